from pathlib import Path

from vendor_build.trim import (
    PRUNE_RULES,
    RULES,
    apply_trim,
    plan_trim,
    runtime_test_modules,
    strip_extensions,
)

from .conftest import write


def _rel(sp: Path, paths) -> set[str]:
    return {p.relative_to(sp).as_posix() for p in paths}


def test_test_modules_imported_at_run_time_are_found(site_packages: Path) -> None:
    _, keep = plan_trim(site_packages)
    assert _rel(site_packages, keep) == {
        "numpyish/_core/tests/_natype.py",
        "relpkg/tests/__init__.py",
        "relpkg/tests/helpers.py",
    }
    # without knowing the rules, the developer script's import would keep a test module
    assert "plain/tests/test_plain.py" in _rel(site_packages, runtime_test_modules(site_packages))


def test_trim_removes_what_the_runtime_never_reads(site_packages: Path) -> None:
    result = apply_trim(site_packages)
    left = {
        p.relative_to(site_packages).as_posix() for p in site_packages.rglob("*") if p.is_file()
    }
    for gone in (
        "numpyish/_core/tests/test_big.py",
        "relpkg/tests/test_relpkg.py",
        "plain/tests/test_plain.py",
        "plain/test/test_other.py",
        "plain/conftest.py",
        "plain/_precompute/gen.py",
        "plain/__init__.pyi",
        "plain/py.typed",
        "plain/_speedups.pyx",
        "plain/_speedups.pxd",
        "plain/include/plain.h",
        "plain/meson.build",
        "plain/__pycache__/__init__.cpython-313.pyc",
        "plain-1.0.dist-info/RECORD",
        "plain-1.0.dist-info/INSTALLER",
        "plain-1.0.dist-info/WHEEL",
        "bin/plain-tool",
    ):
        assert gone not in left, gone
    for kept in (
        "numpyish/_core/tests/_natype.py",
        "relpkg/tests/helpers.py",
        "plain/__init__.py",
        "plain/data/table.csv",
        "plain/descr/iris.rst",  # sklearn reads its dataset descriptions at run time
        "plain-1.0.dist-info/METADATA",
        "plain-1.0.dist-info/entry_points.txt",
        "plain-1.0.dist-info/licenses/LICENSE.txt",
        "plain/_fast.cpython-313-x86_64-linux-gnu.so",
        "plain/_test_helpers.cpython-313-x86_64-linux-gnu.so",  # only PRUNE_RULES drop it
        "plain.libs/libvendored-1234abcd.so.1.0",
    ):
        assert kept in left, kept
    assert not (site_packages / "plain" / "tests").exists()  # emptied dirs go too
    assert not (site_packages / "bin").exists()
    summary = result.summary()
    assert summary["rules"]["test suites"]["files"] == 5
    assert summary["kept_test_modules"] == sorted(
        ["numpyish/_core/tests/_natype.py", "relpkg/tests/__init__.py", "relpkg/tests/helpers.py"]
    )


def test_a_trimmed_package_still_imports(site_packages: Path) -> None:
    import subprocess
    import sys

    apply_trim(site_packages)
    code = "import numpyish, relpkg, plain; print(numpyish.testing.NA, relpkg.HELP, plain.VALUE)"
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            f"import sys; sys.path.insert(0, {str(site_packages)!r}); {code}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["NA", "1", "42"]


def test_prune_rules_drop_test_extensions_and_unused_subpackages(site_packages: Path) -> None:
    write(site_packages / "sklearn" / "__init__.py")
    write(site_packages / "sklearn" / "ensemble" / "__init__.py")
    write(site_packages / "sklearn" / "linear_model" / "__init__.py")
    plan, _ = plan_trim(site_packages, (*RULES, *PRUNE_RULES))
    removed = {p.relative_to(site_packages).as_posix(): rule.name for p, rule in plan.items()}
    assert removed["plain/_test_helpers.cpython-313-x86_64-linux-gnu.so"] == (
        "test-only extension modules"
    )
    assert removed["sklearn/ensemble/__init__.py"] == "unused subpackages"
    assert "sklearn/linear_model/__init__.py" not in removed
    assert "plain/_fast.cpython-313-x86_64-linux-gnu.so" not in removed


def test_strip_touches_extension_modules_but_never_vendored_libs(site_packages: Path) -> None:
    libs = sorted((site_packages / "plain.libs").iterdir())
    before = {p: p.read_bytes() for p in libs}
    files, saved = strip_extensions(site_packages)
    assert files == 2  # _fast and _test_helpers; nothing in plain.libs/
    assert saved >= 0
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path.name} in *.libs was modified"

"""Targets, wheel tags, bytecode magic, file-list comparison, the emulator's cached root, and
publish taking runtime and architecture from the build report."""

from __future__ import annotations

import json
import py_compile
import sys
from pathlib import Path

import pytest

from vendor_build import emulator
from vendor_build.__main__ import main
from vendor_build.build import REPORT_NAME, default_out
from vendor_build.layer_checks import (
    LayerCheckError,
    check_bytecode,
    check_wheel_tags,
    compare_file_lists,
    tag_fits,
)
from vendor_build.publish import target_of_build
from vendor_build.targets import Target, TargetError, find_interpreter
from vendor_build.zipper import write_deterministic_zip

from .conftest import write

CURRENT = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_targets_name_what_lambda_and_pip_call_them() -> None:
    arm = Target("3.13", "arm64")
    assert (arm.runtime, arm.platform, arm.machine, arm.strip) == (
        "python3.13",
        "manylinux_2_28_aarch64",
        "aarch64",
        "aarch64-linux-gnu-strip",
    )
    assert arm.max_glibc == (2, 34) and arm.os_name == "Amazon Linux 2023"
    x86 = Target("3.13", "x86_64")
    assert (x86.platform, x86.strip, x86.site_packages) == (
        "manylinux_2_28_x86_64",
        "strip",
        "python/lib/python3.13/site-packages",
    )
    old = Target("3.11", "x86_64")
    assert (old.platform, old.max_glibc) == ("manylinux2014_x86_64", (2, 26))
    with pytest.raises(TargetError, match="Lambda has x86_64, arm64"):
        Target("3.13", "aarch64")
    with pytest.raises(TargetError, match=r"python '3\.9'"):
        Target("3.9")
    assert default_out("x86_64").name == "layer" and default_out("arm64").name == "layer-arm64"


def test_find_interpreter_returns_one_of_that_version() -> None:
    assert find_interpreter(CURRENT)
    with pytest.raises(TargetError, match=r"no Python 3\.99"):
        find_interpreter("3.99")


@pytest.mark.parametrize(
    ("tag", "target", "fits"),
    [
        ("cp313-cp313-manylinux_2_27_aarch64", Target("3.13", "arm64"), True),
        ("cp313-cp313-manylinux_2_34_aarch64", Target("3.13", "arm64"), True),
        ("cp313-cp313-manylinux_2_35_aarch64", Target("3.13", "arm64"), False),
        ("cp313-cp313-manylinux_2_28_x86_64", Target("3.13", "arm64"), False),
        ("cp313-cp313-manylinux_2_27_aarch64", Target("3.11", "arm64"), False),
        ("cp311-cp311-manylinux2014_x86_64", Target("3.11"), True),
        ("cp311-cp311-manylinux_2_28_x86_64", Target("3.11"), False),
        ("cp312-cp312-manylinux_2_28_x86_64", Target("3.13"), False),
        ("cp39-abi3-manylinux2014_x86_64", Target("3.13"), True),
        ("py3-none-any", Target("3.11", "arm64"), True),
        ("cp313-cp313-win_amd64", Target("3.13"), False),
        ("not-a-tag", Target("3.13"), False),
    ],
)
def test_wheel_tags(tag: str, target: Target, fits: bool) -> None:
    assert tag_fits(tag, target) is fits


def test_a_wheel_fits_when_one_of_its_tags_does() -> None:
    arm = Target("3.13", "arm64")
    dual = ["cp313-cp313-manylinux_2_27_aarch64", "cp313-cp313-manylinux_2_28_aarch64"]
    check_wheel_tags({"numpy-2.5.5.dist-info": dual, "joblib.dist-info": ["py3-none-any"]}, arm)
    with pytest.raises(LayerCheckError, match="numpy"):
        check_wheel_tags({"numpy-2.5.5.dist-info": ["cp313-cp313-manylinux_2_28_x86_64"]}, arm)
    with pytest.raises(LayerCheckError, match="nothing was installed"):
        check_wheel_tags({}, arm)


def _layer(tmp_path: Path, name: str, machine: str, version: str, extra: str = "") -> Path:
    sp = tmp_path / name / "python" / "lib" / f"python{version}" / "site-packages"
    tag = version.replace(".", "")
    write(sp / "pkg" / "__init__.pyc", data=b"x")
    write(sp / "pkg" / f"_fast.cpython-{tag}-{machine}-linux-gnu.so", data=b"\x7fELF")
    write(sp / "pkg.libs" / f"libopenblas-{machine[:3]}.so", data=b"\x7fELF")
    if extra:
        write(sp / extra, "x")
    return write_deterministic_zip(tmp_path / name, tmp_path / f"{name}.zip")


def test_file_lists_match_apart_from_machine_names_and_vendored_libraries(
    tmp_path: Path,
) -> None:
    x86 = _layer(tmp_path, "x86", "x86_64", "3.13")
    arm = _layer(tmp_path, "arm", "aarch64", "3.13")
    same = compare_file_lists(arm, x86)
    assert same.same and same.binaries_compared == 1
    assert same.vendored_first == [
        "python/lib/python3.13/site-packages/pkg.libs/libopenblas-aar.so"
    ]
    more = _layer(tmp_path, "more", "aarch64", "3.13", extra="pkg/extra.py")
    differs = compare_file_lists(more, x86)
    assert not differs.same
    assert differs.only_in_first == ["<python>site-packages/pkg/extra.py"]


def test_bytecode_must_be_the_target_pythons(tmp_path: Path) -> None:
    source = write(tmp_path / "tree" / "python" / "m.py", "x = 1\n")
    py_compile.compile(str(source), cfile=str(source.with_suffix(".pyc")))
    source.unlink()
    layer = write_deterministic_zip(tmp_path / "tree", tmp_path / "layer.zip")
    assert check_bytecode(layer, Target(CURRENT), sys.executable) == 1
    other = "3.13" if CURRENT != "3.13" else "3.12"
    with pytest.raises(LayerCheckError, match=f"not for Python {other}"):
        check_bytecode(layer, Target(other), find_interpreter(other))


def test_the_emulator_root_is_reused_and_missing_tools_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    write(root / "usr" / "bin" / "python3.13", "")
    write(root / ".vendor_build-root.json", "{}")
    monkeypatch.setattr(emulator.shutil, "which", lambda _name: None)
    assert emulator.prepare_root(root) == root  # cached: no tool needed
    with pytest.raises(emulator.EmulatorError, match="debootstrap, dpkg-deb, qemu-aarch64-static"):
        emulator.prepare_root(tmp_path / "fresh")
    with pytest.raises(emulator.EmulatorError, match="qemu-user-static"):
        emulator.emulated_python(root)


def test_publish_takes_the_target_from_the_build_report(tmp_path: Path) -> None:
    zip_path = write(tmp_path / "out" / "sklearn-layer.zip", data=b"PK")
    assert target_of_build(zip_path) is None
    report = {"extra": {"target": Target("3.13", "arm64").describe()}}
    write(tmp_path / "out" / REPORT_NAME, json.dumps(report))
    assert target_of_build(zip_path) == ("3.13", "arm64")
    argv = ["publish", "--zip", str(zip_path), "--bucket", "b", "--config", str(tmp_path / "c")]
    assert main([*argv, "--arch", "x86_64"]) == 2  # refused before any AWS call
    assert main([*argv, "--python-version", "3.12"]) == 2


def test_a_python_lambda_has_no_runtime_for_is_refused_in_words(tmp_path: Path, capsys) -> None:
    assert main(["build", "--out", str(tmp_path), "--python-version", "3.99"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("BUILD REFUSED: python '3.99'") and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # refused before anything was built

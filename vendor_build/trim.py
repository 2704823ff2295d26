"""Remove what the Lambda runtime never reads from an installed site-packages, safely.

Each rule is data (a name, a match, and why it is safe) so the report can say what went and
why. The traps from platform-facts are handled here: a ``tests`` package that non-test code
imports (numpy 2.2 imports ``numpy._core.tests._natype`` from ``numpy.testing``) is found by
scanning the imports and kept; the auditwheel-vendored libraries in ``*.libs/`` are never
stripped, because ``strip`` breaks their page alignment.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PRUNED_SUBPACKAGES",
    "PRUNE_RULES",
    "RULES",
    "Rule",
    "StripError",
    "TrimResult",
    "apply_trim",
    "plan_trim",
    "runtime_test_modules",
    "strip_extensions",
]

_TEST_DIRS = frozenset({"tests", "test"})  # joblib keeps its suite in joblib/test
_BUILD_INPUT_SUFFIXES = frozenset(
    {".pyx", ".pxd", ".pxi", ".c", ".cc", ".cpp", ".h", ".hpp", ".tp", ".a"}
)
_INSTALLER_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "WHEEL", "direct_url.json"})


@dataclass(frozen=True)
class Rule:
    """One trimming rule: ``matches(path relative to site-packages)`` and why it is safe."""

    name: str
    why: str
    matches: Callable[[Path], bool]


def _in_test_dir(rel: Path) -> bool:
    return any(part in _TEST_DIRS for part in rel.parts[:-1]) or rel.name in _TEST_DIRS


RULES: tuple[Rule, ...] = (
    Rule(
        "test suites",
        "pytest suites (tests/, test/); modules that non-test code imports are kept",
        _in_test_dir,
    ),
    Rule("pytest config", "conftest.py is read by pytest only", lambda p: p.name == "conftest.py"),
    Rule(
        "type stubs",
        "*.pyi and py.typed are read by type checkers, never imported",
        lambda p: p.suffix == ".pyi" or p.name == "py.typed",
    ),
    Rule(
        "build inputs",
        "Cython/C sources, headers, templates and static libraries only matter when compiling "
        "against these packages; the compiled extensions are kept",
        lambda p: p.suffix in _BUILD_INPUT_SUFFIXES or p.name == "meson.build",
    ),
    Rule(
        "developer scripts",
        "scipy's _precompute scripts regenerate tables during development (they need mpmath); "
        "nothing imports them",
        lambda p: "_precompute" in p.parts[:-1],
    ),
    Rule(
        "console scripts",
        "bin/ holds f2py and numpy-config launchers with the build machine's shebang",
        lambda p: p.parts[0] == "bin",
    ),
    Rule(
        "installer bookkeeping",
        "RECORD/INSTALLER/REQUESTED/WHEEL are read by pip only (and RECORD would be stale); "
        "METADATA, entry points and licences stay for importlib.metadata and the licences",
        lambda p: (
            len(p.parts) == 2 and p.parts[0].endswith(".dist-info") and p.name in _INSTALLER_FILES
        ),
    ),
    Rule(
        "stale bytecode",
        "bytecode is recompiled afterwards for the target Python, with unchecked hashes",
        lambda p: "__pycache__" in p.parts or p.suffix == ".pyc",
    ),
)


#: Compiled helpers that only the packages' own test suites import (numpy's ``_simd`` is its
#: SIMD test interface, and large).
_TEST_EXTENSION_PREFIXES = ("_test",)
_TEST_EXTENSION_NAMES = frozenset({"numpy/_core/_simd"})

#: Subpackages the API never imports: none of their modules is loaded by importing the API's
#: modules, unpickling a TF-IDF + logistic-regression model and predicting (measured with
#: the isolated import test, which every build's verify step repeats). A model that needs
#: one of them fails verify loudly; build with ``--no-prune`` then.
PRUNED_SUBPACKAGES: tuple[str, ...] = (
    "numpy/distutils",  # deprecated build tooling (gone on Python 3.12)
    "scipy/cluster",
    "scipy/datasets",
    "scipy/differentiate",
    "scipy/fftpack",
    "scipy/io",
    "scipy/misc",
    "scipy/odr",
    "scipy/signal",
    "scipy/stats/_unuran",  # only scipy.stats.sampling (not imported by scipy.stats) loads it
    "sklearn/cluster",
    "sklearn/covariance",
    "sklearn/cross_decomposition",
    "sklearn/datasets",
    "sklearn/decomposition",
    "sklearn/ensemble",
    "sklearn/gaussian_process",
    "sklearn/inspection",
    "sklearn/manifold",
    "sklearn/mixture",
    "sklearn/neighbors",
    "sklearn/neural_network",
    "sklearn/semi_supervised",
    "sklearn/tree",
)


def _extension_module(rel: Path) -> str | None:
    if rel.suffix != ".so":
        return None
    return (rel.parent / rel.name.split(".", 1)[0]).as_posix()


def _is_test_extension(rel: Path) -> bool:
    module = _extension_module(rel)
    if module is None:
        return False
    name = module.rsplit("/", 1)[-1]
    return (
        name.startswith(_TEST_EXTENSION_PREFIXES)
        or name.endswith("_tests")
        or module in _TEST_EXTENSION_NAMES
    )


def _in_pruned_subpackage(rel: Path) -> bool:
    posix = rel.as_posix()
    return any(posix.startswith(package + "/") for package in PRUNED_SUBPACKAGES)


PRUNE_RULES: tuple[Rule, ...] = (
    Rule(
        "test-only extension modules",
        "compiled helpers (_test*, *_tests, numpy _simd) imported only by the test suites",
        _is_test_extension,
    ),
    Rule(
        "unused subpackages",
        "subpackages no module of the API's import closure loads (see PRUNED_SUBPACKAGES); "
        "proved by verify's isolated import and prediction",
        _in_pruned_subpackage,
    ),
)


@dataclass
class TrimResult:
    """What a trim removed (relative paths) and kept, with byte counts per rule."""

    removed: dict[str, list[str]] = field(default_factory=dict)
    removed_bytes: dict[str, int] = field(default_factory=dict)
    kept_test_modules: list[str] = field(default_factory=list)
    strip_saved_bytes: int = 0
    stripped_files: int = 0

    def summary(self) -> dict[str, object]:
        """A JSON-ready summary (counts and bytes, not every path)."""
        return {
            "rules": {
                rule.name: {
                    "why": rule.why,
                    "files": len(self.removed.get(rule.name, [])),
                    "bytes": self.removed_bytes.get(rule.name, 0),
                }
                for rule in (*RULES, *PRUNE_RULES)
                if rule.name in self.removed or rule in RULES
            },
            "kept_test_modules": self.kept_test_modules,
            "stripped_extension_modules": self.stripped_files,
            "strip_saved_bytes": self.strip_saved_bytes,
        }


def _module_path(site_packages: Path, module: str) -> Path | None:
    base = site_packages.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(source_file: Path, site_packages: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved)."""
    try:
        tree = ast.parse(source_file.read_bytes(), filename=str(source_file))
    except (SyntaxError, ValueError):
        return set()
    rel = source_file.relative_to(site_packages).with_suffix("")
    package = list(rel.parts[:-1])  # the same for a/b/c.py and a/b/__init__.py: package a.b
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def runtime_test_modules(
    site_packages: Path, removed: Callable[[Path], bool] | None = None
) -> set[Path]:
    """Files inside ``tests`` packages that code outside them imports, with their ``__init__``.

    Scans every non-test module that mentions ``test`` (skipping those ``removed`` says
    another rule deletes), then the kept modules themselves, until nothing new turns up.
    """
    site_packages = Path(site_packages)
    queue = [
        path
        for path in site_packages.rglob("*.py")
        if not _in_test_dir(path.relative_to(site_packages))
        and path.name != "conftest.py"
        and not (removed and removed(path.relative_to(site_packages)))
        and b"test" in path.read_bytes()
    ]
    keep: set[Path] = set()
    while queue:
        source = queue.pop()
        for module in _imported_modules(source, site_packages):
            if not any(part in _TEST_DIRS for part in module.split(".")):
                continue
            target = _module_path(site_packages, module)
            if target is None or target in keep:
                continue
            keep.add(target)
            queue.append(target)
            parent = target.parent
            while parent != site_packages and _in_test_dir(parent.relative_to(site_packages)):
                init = parent / "__init__.py"
                if init.is_file():
                    keep.add(init)
                parent = parent.parent
    return keep


def _files(root: Path) -> Iterable[Path]:
    return (path for path in sorted(root.rglob("*")) if path.is_file() or path.is_symlink())


def plan_trim(
    site_packages: Path, rules: Iterable[Rule] = RULES
) -> tuple[dict[Path, Rule], set[Path]]:
    """Which files each rule removes, and the runtime test modules it must keep. No changes."""
    site_packages = Path(site_packages)
    rules = tuple(rules)
    keep = runtime_test_modules(site_packages, lambda rel: any(rule.matches(rel) for rule in rules))
    plan: dict[Path, Rule] = {}
    for path in _files(site_packages):
        if path in keep:
            continue
        rel = path.relative_to(site_packages)
        for rule in rules:
            if rule.matches(rel):
                plan[path] = rule
                break
    return plan, keep


def apply_trim(site_packages: Path, rules: Iterable[Rule] = RULES) -> TrimResult:
    """Delete what :func:`plan_trim` selects, then the directories left empty."""
    site_packages = Path(site_packages)
    plan, keep = plan_trim(site_packages, rules)
    result = TrimResult(kept_test_modules=sorted(str(p.relative_to(site_packages)) for p in keep))
    for path, rule in plan.items():
        size = path.lstat().st_size
        path.unlink()
        result.removed.setdefault(rule.name, []).append(str(path.relative_to(site_packages)))
        result.removed_bytes[rule.name] = result.removed_bytes.get(rule.name, 0) + size
    for directory in sorted(
        (p for p in site_packages.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
    ):
        if not any(directory.iterdir()):
            directory.rmdir()
    return result


class StripError(RuntimeError):
    """``strip`` is missing or failed on an extension module."""


def _is_vendored_lib(rel: Path) -> bool:
    return any(part.endswith(".libs") for part in rel.parts)


def strip_extensions(site_packages: Path, strip: str = "strip") -> tuple[int, int]:
    """Strip extension modules (``*.so`` outside ``*.libs/``). Returns (files, bytes saved).

    ``--strip-unneeded`` keeps the dynamic symbol table the loader needs. The vendored
    libraries in ``*.libs/`` are left alone: stripping them breaks their load segments.
    """
    executable = shutil.which(strip)
    if executable is None:
        raise StripError(f"'{strip}' not found: install binutils, or build with --no-strip")
    site_packages = Path(site_packages)
    targets = [
        path
        for path in _files(site_packages)
        if path.suffix == ".so" and not _is_vendored_lib(path.relative_to(site_packages))
    ]
    before = sum(path.stat().st_size for path in targets)
    for start in range(0, len(targets), 100):
        batch = [str(path) for path in targets[start : start + 100]]
        done = subprocess.run(
            [executable, "--strip-unneeded", *batch], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise StripError(f"strip failed ({done.returncode}): {done.stderr.strip()[:2000]}")
    after = sum(path.stat().st_size for path in targets)
    return len(targets), before - after

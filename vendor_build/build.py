"""Build the scikit-learn layer: install pinned wheels, trim, strip, compile, zip, measure.

``build_layer`` is what ``python -m vendor_build build`` runs; ``build_naive_layer`` is the
tutorial's layer (``pip install --target`` and zip, nothing else), kept as the baseline the
benchmarks and the closing note compare against.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from vendor_build.bytecode import compile_tree
from vendor_build.elf import check_binaries
from vendor_build.layer_checks import check_wheel_tags, installed_wheel_tags
from vendor_build.pins import DEFAULT_REQUIREMENTS, RUNTIME_PACKAGES, runtime_pins
from vendor_build.report import (
    DEFAULT_LIMITS,
    Limit,
    SizeReport,
    check_limits,
    format_report,
    measure_zip,
)
from vendor_build.runtime import PYTHON_VERSION
from vendor_build.targets import Target, find_interpreter
from vendor_build.trim import PRUNE_RULES, RULES, TrimResult, apply_trim, strip_extensions
from vendor_build.zipper import sha256_file, write_deterministic_zip

__all__ = [
    "DEFAULT_NAIVE_OUT",
    "DEFAULT_OUT",
    "DEFAULT_PLATFORM",
    "DEFAULT_PYTHON_VERSION",
    "DEFAULT_WHEEL_DIR",
    "REPORT_NAME",
    "ZIP_NAME",
    "BuildResult",
    "InstallError",
    "build_layer",
    "build_naive_layer",
    "default_out",
    "install_packages",
    "site_packages_dir",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "build" / "layer"
DEFAULT_NAIVE_OUT = REPO_ROOT / "build" / "naive-layer"
#: Downloaded wheels, reused by later builds (offline after the first one).
DEFAULT_WHEEL_DIR = REPO_ROOT / "build" / "wheels"
DEFAULT_PYTHON_VERSION = PYTHON_VERSION
#: python3.13 on Lambda runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels load.
DEFAULT_PLATFORM = "manylinux_2_28_x86_64"
ZIP_NAME = "sklearn-layer.zip"
REPORT_NAME = "sklearn-layer.report.json"


def default_out(arch: str = "x86_64", naive: bool = False) -> Path:
    """Where a build for ``arch`` goes: build/layer for x86_64, build/layer-arm64 for arm64."""
    base = DEFAULT_NAIVE_OUT if naive else DEFAULT_OUT
    return base if arch == "x86_64" else base.with_name(f"{base.name}-{arch}")


class InstallError(RuntimeError):
    """pip could not install the pinned stack for the target platform."""


@dataclass
class BuildResult:
    """A built layer: the zip, its size report, and what trimming did."""

    zip_path: Path
    report_path: Path
    report: SizeReport
    trim: TrimResult | None = None
    timings_s: dict[str, float] = field(default_factory=dict)


def site_packages_dir(tree: Path, python_version: str = DEFAULT_PYTHON_VERSION) -> Path:
    """Where a layer's packages go: Lambda puts /opt/python/lib/pythonX.Y/site-packages first."""
    return Path(tree) / "python" / "lib" / f"python{python_version}" / "site-packages"


def _pip(args: list[str]) -> int:
    # pip's own progress goes straight to the terminal: a first build downloads the wheels.
    return subprocess.run([sys.executable, "-m", "pip", *args], check=False).returncode


def _ensure_wheels(wheel_dir: Path, target: list[str], requirements: list[str]) -> None:
    """Download what ``wheel_dir`` lacks; a no-op (and offline) once every wheel is there."""
    offline = ["download", "--quiet", "--no-index", "--find-links", str(wheel_dir)]
    if (
        any(wheel_dir.glob("*.whl"))
        and _pip([*offline, "--dest", str(wheel_dir), *target, *requirements]) == 0
    ):
        return
    if _pip(["download", "--dest", str(wheel_dir), *target, *requirements]) != 0:
        raise InstallError(f"pip could not download {' '.join(requirements)} for {target[1]}")


def install_packages(
    site_packages: Path,
    requirements: list[str],
    *,
    python_version: str = DEFAULT_PYTHON_VERSION,
    platform: str = DEFAULT_PLATFORM,
    wheel_dir: Path = DEFAULT_WHEEL_DIR,
    compile_bytecode: bool = False,
) -> dict[str, str]:
    """pip-install binary wheels for the target into ``site_packages``. Returns {dist: version}.

    Wheels are downloaded once into ``wheel_dir`` and installed from there with
    ``--no-index``, so rebuilds are offline and install exactly the same files.
    """
    target = [
        "--platform",
        platform,
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--only-binary=:all:",
    ]
    wheel_dir = Path(wheel_dir)
    wheel_dir.mkdir(parents=True, exist_ok=True)
    install = [
        "install",
        "--disable-pip-version-check",
        "--no-index",
        "--find-links",
        str(wheel_dir),
        "--target",
        str(site_packages),
        "--compile" if compile_bytecode else "--no-compile",
        *target,
        *requirements,
    ]
    _ensure_wheels(wheel_dir, target, requirements)
    if _pip(install) != 0:
        raise InstallError(f"pip could not install {' '.join(requirements)} into {site_packages}")
    return {
        dist.metadata["Name"]: dist.version
        for dist in metadata.distributions(path=[str(site_packages)])
    }


def _fresh(directory: Path) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


@dataclass(frozen=True)
class _Installed:
    """A fresh ``tree`` with the pinned stack pip-installed into its ``site_packages``."""

    tree: Path
    site_packages: Path
    requirements: list[str]
    packages: dict[str, str]
    install_s: float
    wheel_tags: dict[str, list[str]]


def _install_fresh(
    out_dir: Path,
    *,
    requirements_file: Path,
    python_version: str,
    platform: str,
    wheel_dir: Path,
    packages: tuple[str, ...] = RUNTIME_PACKAGES,
    compile_bytecode: bool = False,
) -> _Installed:
    """Empty ``out_dir/tree`` and install the pins of ``packages`` in ``requirements_file``."""
    tree = _fresh(out_dir / "tree")
    site_packages = site_packages_dir(tree, python_version)
    requirements = runtime_pins(requirements_file, packages)
    step = time.perf_counter()
    packages = install_packages(
        site_packages,
        requirements,
        python_version=python_version,
        platform=platform,
        wheel_dir=wheel_dir,
        compile_bytecode=compile_bytecode,
    )
    took = time.perf_counter() - step
    tags = installed_wheel_tags(site_packages)  # before trimming drops the WHEEL files
    return _Installed(tree, site_packages, requirements, packages, took, tags)


def _write_report(out_dir: Path, report: SizeReport, *, echo: bool) -> Path:
    """Write ``report`` as JSON beside the zip (and print it when ``echo``)."""
    report_path = out_dir / REPORT_NAME
    report_path.write_text(report.to_json())
    if echo:
        print(format_report(report))
    return report_path


def _unpinned(installed: dict[str, str], requirements: list[str]) -> dict[str, str]:
    pinned = {req.split("==")[0].lower().replace("_", "-") for req in requirements}
    return {
        name: version
        for name, version in installed.items()
        if name.lower().replace("_", "-") not in pinned
    }


def build_layer(
    out_dir: Path = DEFAULT_OUT,
    *,
    requirements_file: Path = DEFAULT_REQUIREMENTS,
    python_version: str = DEFAULT_PYTHON_VERSION,
    arch: str = "x86_64",
    platform: str | None = None,
    wheel_dir: Path = DEFAULT_WHEEL_DIR,
    packages: tuple[str, ...] = RUNTIME_PACKAGES,
    strip: bool = True,
    prune: bool = True,
    sourceless: bool = True,
    python: str | None = None,
    limits: tuple[Limit, ...] = DEFAULT_LIMITS,
    check: bool = True,
    echo: bool = True,
) -> BuildResult:
    """Build the trimmed layer into ``out_dir`` and return its report.

    ``arch`` is Lambda's architecture (``x86_64`` or ``arm64``); ``platform`` defaults to
    the :class:`~vendor_build.targets.Target`'s pip tag. ``python`` is an interpreter of
    ``python_version`` for compiling bytecode (default: this one when it is that version,
    else one found by :func:`~vendor_build.targets.find_interpreter`). ``packages`` are the
    distributions installed at their pins (another stack's, e.g. the bench's python3.11
    baseline, may lack one of today's).

    Raises :class:`~vendor_build.report.LayerTooLargeError` when ``check`` and a limit is broken
    (the zip and report are written first, so they can be inspected);
    :class:`~vendor_build.layer_checks.LayerCheckError` when a wheel's tags, and
    :class:`~vendor_build.elf.BinaryCheckError` when a binary's machine or glibc, do not fit.
    """
    out_dir = Path(out_dir)
    target = Target(python_version, arch)
    platform = platform or target.platform
    started = time.perf_counter()
    installed = _install_fresh(
        out_dir,
        requirements_file=requirements_file,
        python_version=python_version,
        platform=platform,
        wheel_dir=wheel_dir,
        packages=packages,
    )
    tree, site_packages = installed.tree, installed.site_packages
    timings = {"install": installed.install_s}
    check_wheel_tags(installed.wheel_tags, target)

    step = time.perf_counter()
    trim = apply_trim(site_packages, (*RULES, *PRUNE_RULES) if prune else RULES)
    timings["trim"] = time.perf_counter() - step
    if strip:
        step = time.perf_counter()
        trim.stripped_files, trim.strip_saved_bytes = strip_extensions(
            site_packages, strip=target.strip
        )
        timings["strip"] = time.perf_counter() - step
    binaries = check_binaries(site_packages, target)

    step = time.perf_counter()
    pyc, source_bytes = compile_tree(
        site_packages,
        python_version=python_version,
        python=python or find_interpreter(python_version),
        ddir=f"/opt/python/lib/python{python_version}/site-packages",
        sourceless=sourceless,
    )
    timings["bytecode"] = time.perf_counter() - step

    step = time.perf_counter()
    zip_path = write_deterministic_zip(tree, out_dir / ZIP_NAME)
    timings["zip"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started

    report = measure_zip(zip_path, sha256_file(zip_path), limits)
    report.extra = {
        "kind": "trimmed",
        "python_version": python_version,
        "platform": platform,
        "target": target.describe(),
        "wheel_tags": installed.wheel_tags,
        "binaries": asdict(binaries),
        "installed": installed.packages,
        "unpinned_transitive": _unpinned(installed.packages, installed.requirements),
        "pyc_files": pyc,
        "sourceless": sourceless,
        "sources_removed_bytes": source_bytes,
        "pruned": prune,
        "trim": trim.summary(),
        "timings_s": {name: round(value, 2) for name, value in timings.items()},
    }
    report_path = _write_report(out_dir, report, echo=echo)
    if echo:
        print(f"build took {timings['total']:.1f} s; report: {report_path}")
    if check:
        check_limits(report)
    return BuildResult(zip_path, report_path, report, trim, timings)


def build_naive_layer(
    out_dir: Path = DEFAULT_NAIVE_OUT,
    *,
    requirements_file: Path = DEFAULT_REQUIREMENTS,
    python_version: str = DEFAULT_PYTHON_VERSION,
    arch: str = "x86_64",
    platform: str | None = None,
    wheel_dir: Path = DEFAULT_WHEEL_DIR,
    packages: tuple[str, ...] = RUNTIME_PACKAGES,
    echo: bool = True,
) -> BuildResult:
    """The tutorial's layer, for comparison: ``pip install --target`` of the same wheels, zipped.

    pip's own timestamp-based bytecode is in it (part of why the tutorial's is too big), but it is
    stale once unzipped (the mtimes change), so at run time this layer behaves as
    bytecode-less. It is over Lambda's limits by design: limits are reported, not enforced.
    """
    out_dir = Path(out_dir)
    platform = platform or Target(python_version, arch).platform
    started = time.perf_counter()
    installed = _install_fresh(
        out_dir,
        requirements_file=requirements_file,
        python_version=python_version,
        platform=platform,
        wheel_dir=wheel_dir,
        packages=packages,
        compile_bytecode=True,
    )
    zip_path = write_deterministic_zip(installed.tree, out_dir / ZIP_NAME, compresslevel=6)
    timings = {"total": time.perf_counter() - started}
    report = measure_zip(zip_path, sha256_file(zip_path))
    report.extra = {"kind": "naive", "installed": installed.packages, "timings_s": timings}
    report_path = _write_report(out_dir, report, echo=echo)
    return BuildResult(zip_path, report_path, report, None, timings)

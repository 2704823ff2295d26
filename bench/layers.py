"""The scikit-learn layers the bench measures: ours per architecture, the tutorial's, the old one.

Ours is what ``python -m vendor_build build --arch ARCH`` writes to ``build/layer/`` (x86_64)
or ``build/layer-arm64/``. The tutorial's is ``python -m vendor_build build --naive``: made
the way the tutorial made it, ``pip install --target`` of the same pinned wheels (so only the
packaging differs), zipped whole. The baseline is our trimmed layer as it was for python3.11
(the pins in ``bench/baseline-py311-requirements.txt``), built by today's vendor_build into
``build/bench/layer-py311/``. All are cached under ``build/``, because a fresh machine
downloads the wheels for a build; a cached trimmed layer is reused only while its build
report names the same Python, architecture and versions as the pins.

For cold starts a layer is unzipped into a folder standing for Lambda's ``/opt`` and made
read-only, as Lambda mounts it; the deployment.zip into one standing for ``/var/task``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vendor_build.build import REPORT_NAME, ZIP_NAME, default_out
from vendor_build.pins import RUNTIME_PACKAGES, read_pins, runtime_pins
from vendor_build.runtime import PYTHON_VERSION
from vendor_build.targets import Target
from vendor_build.verify import make_read_only, unpack_layer

__all__ = [
    "LayerInfo",
    "TrimmedLayer",
    "baseline_layer",
    "describe",
    "ensure_our_layer",
    "ensure_trimmed_layer",
    "ensure_tutorial_layer",
    "extract_read_only",
    "is_current",
    "our_layer",
    "unzip_task",
    "zip_sizes",
]


@dataclass(frozen=True)
class LayerInfo:
    """A built layer zip and how it was obtained."""

    name: str
    zip_path: Path
    unzipped_bytes: int
    zipped_bytes: int
    origin: str
    #: Its runtime and architecture, e.g. ``python3.13 arm64``.
    label: str = ""


def zip_sizes(path: Path) -> tuple[int, int]:
    """``(unzipped, zipped)`` bytes of a zip: the two numbers Lambda's limits are about."""
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    return unzipped, path.stat().st_size


@dataclass(frozen=True)
class TrimmedLayer:
    """A layer ``python -m vendor_build build`` makes: for which runtime, from which pins, where."""

    name: str
    python: str
    arch: str
    requirements: Path
    packages: tuple[str, ...]
    out_dir: Path

    @property
    def zip_path(self) -> Path:
        """The zip vendor_build writes."""
        return self.out_dir / ZIP_NAME

    @property
    def label(self) -> str:
        """``python3.13 x86_64``: what the table calls it."""
        return f"python{self.python} {self.arch}"

    def pins(self) -> dict[str, str]:
        """``{name: version}`` of ``packages`` as ``requirements`` pins them."""
        return dict(req.split("==", 1) for req in runtime_pins(self.requirements, self.packages))

    def build_argv(self) -> list[str]:
        """The vendor_build command that makes it."""
        return [
            *(sys.executable, "-m", "vendor_build", "build"),
            *("--arch", self.arch, "--python-version", self.python),
            *("--requirements", str(self.requirements), "--packages", ",".join(self.packages)),
            *("--out", str(self.out_dir)),
        ]


def describe(layer: TrimmedLayer, repo: Path) -> str:
    """What the table says a layer holds: its main pins, their file, the wheels' platform.

    >>> layer = our_layer(Path(__file__).resolve().parent.parent)
    >>> describe(layer, layer.requirements.parent)  # doctest: +ELLIPSIS
    'scikit-learn ..., numpy ..., scipy ... (requirements-train.txt), manylinux_2_28_x86_64'
    """
    pins = layer.pins()
    main = ", ".join(f"{name} {pins[name]}" for name in ("scikit-learn", "numpy", "scipy"))
    where = layer.requirements
    shown = where.relative_to(repo) if where.is_relative_to(repo) else where
    return f"{main} ({shown}), {Target(layer.python, layer.arch).platform}"


def our_layer(repo: Path, arch: str = "x86_64") -> TrimmedLayer:
    """The layer ``make layer ARCH=arch`` builds: python3.13, ``requirements-train.txt``."""
    out_dir = repo / "build" / default_out(arch).name
    requirements = repo / "requirements-train.txt"
    return TrimmedLayer("ours", PYTHON_VERSION, arch, requirements, RUNTIME_PACKAGES, out_dir)


def baseline_layer(requirements: Path, python: str, build_dir: Path) -> TrimmedLayer:
    """The old layer the cold import floor is compared with: every package ``requirements`` pins."""
    packages = tuple(read_pins(requirements))
    out_dir = build_dir / f"layer-py{python.replace('.', '')}"
    return TrimmedLayer("baseline", python, "x86_64", requirements, packages, out_dir)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def is_current(
    report: Mapping[str, object], python: str, arch: str, pins: Mapping[str, str]
) -> bool:
    """True when a build report names ``python``, ``arch`` and exactly the pinned versions.

    >>> extra = {"target": {"python_version": "3.13", "architecture": "x86_64"},
    ...          "installed": {"scikit_learn": "1.9.1", "numpy": "2.5.5"}}
    >>> is_current({"extra": extra}, "3.13", "x86_64", {"scikit-learn": "1.9.1"})
    True
    >>> is_current({"extra": extra}, "3.11", "x86_64", {"scikit-learn": "1.9.1"})
    False
    """
    extra = report.get("extra")
    if not isinstance(extra, Mapping):
        return False
    target = extra.get("target")
    installed = extra.get("installed")
    if not isinstance(target, Mapping) or not isinstance(installed, Mapping):
        return False
    if (target.get("python_version"), target.get("architecture")) != (python, arch):
        return False
    versions = {_canonical(str(name)): version for name, version in installed.items()}
    return all(versions.get(_canonical(name)) == version for name, version in pins.items())


def _report_is_current(layer: TrimmedLayer) -> bool:
    report_path = layer.out_dir / REPORT_NAME
    if not (layer.zip_path.exists() and report_path.exists()):
        return False
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and is_current(report, layer.python, layer.arch, layer.pins())


def ensure_trimmed_layer(
    layer: TrimmedLayer, build_dir: Path, *, rebuild: bool, log: Path, cwd: Path
) -> LayerInfo:
    """Reuse ``layer``'s zip if its report matches its pins, else run vendor_build.

    vendor_build prints pip's progress; it goes to ``log`` (and a failure quotes its tail).
    The zip is copied under ``build_dir`` so a rebuild running alongside (``make layer``)
    cannot change it halfway through the run.
    """
    shown = (
        layer.zip_path.relative_to(cwd) if layer.zip_path.is_relative_to(cwd) else layer.zip_path
    )
    origin = f"cached {shown}"
    if rebuild or not _report_is_current(layer):
        _run_logged(layer.build_argv(), cwd=cwd, log=log)
        origin = f"built in this run (`python -m vendor_build build --arch {layer.arch}"
        origin += f" --python-version {layer.python}`)"
        if not layer.zip_path.exists():
            raise FileNotFoundError(f"vendor_build build did not write {layer.zip_path}")
    build_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if (layer.name, layer.arch) == ("ours", "x86_64") else f"-{layer.arch}"
    snapshot = build_dir / f"layer-{layer.name}{suffix}.zip"
    shutil.copyfile(layer.zip_path, snapshot)
    unzipped, zipped = zip_sizes(snapshot)
    return LayerInfo(layer.name, snapshot, unzipped, zipped, origin, layer.label)


def ensure_our_layer(
    repo: Path, build_dir: Path, *, rebuild: bool, log: Path, arch: str = "x86_64"
) -> LayerInfo:
    """Our trimmed python3.13 layer for ``arch`` (see :func:`ensure_trimmed_layer`)."""
    return ensure_trimmed_layer(
        our_layer(repo, arch), build_dir, rebuild=rebuild, log=log, cwd=repo
    )


def ensure_tutorial_layer(repo: Path, build_dir: Path, *, rebuild: bool, log: Path) -> LayerInfo:
    """The tutorial's layer: ``python -m vendor_build build --naive``, rebuilt when the pins change.

    pip compiles timestamp-based ``.pyc`` files, so they are in the zip (part of why the
    tutorial's layer is too big); unzipped elsewhere their source mtimes no longer match,
    so Python compiles from source at every cold start anyway. The build's output goes to
    ``log``.
    """
    out_dir = build_dir / "tutorial-layer"
    zip_path = out_dir / ZIP_NAME
    stamp_path = build_dir / "tutorial-layer.stamp"
    stamp = json.dumps(runtime_pins(repo / "requirements-train.txt"))
    fresh = (
        not rebuild
        and zip_path.exists()
        and stamp_path.exists()
        and stamp_path.read_text() == stamp
    )
    origin = f"cached build/bench/tutorial-layer/{ZIP_NAME}"
    if not fresh:
        argv = [sys.executable, "-m", "vendor_build", "build", "--naive", "--out", str(out_dir)]
        _run_logged(argv, cwd=repo, log=log)
        stamp_path.write_text(stamp)
        origin = "built in this run: `python -m vendor_build build --naive` (pip install --target)"
    unzipped, zipped = zip_sizes(zip_path)
    return LayerInfo(
        "tutorial", zip_path, unzipped, zipped, origin, f"python{PYTHON_VERSION} x86_64"
    )


def extract_read_only(zip_path: Path, dest: Path) -> Path:
    """Unzip a layer into ``dest`` (standing for /opt) and make it read-only.

    Cached by the zip's size and mtime. Root ignores permission bits; the bench also runs
    Python with ``-B`` so nothing is written either way.
    """
    st = zip_path.stat()
    stamp = f"{zip_path.resolve()} {st.st_size} {st.st_mtime_ns}"
    stamp_path = dest.parent / f"{dest.name}.stamp"
    if dest.exists() and stamp_path.exists() and stamp_path.read_text() == stamp:
        return dest
    _rmtree(dest)
    make_read_only(unpack_layer(zip_path, dest))
    stamp_path.write_text(stamp)
    return dest


def unzip_task(zip_path: Path, dest: Path) -> Path:
    """Unzip deployment.zip into a fresh folder standing for /var/task."""
    _rmtree(dest)
    return unpack_layer(zip_path, dest)


def _rmtree(path: Path) -> None:
    """Remove a tree even where :func:`extract_read_only` made it read-only."""
    if path.exists():
        make_read_only(path, read_only=False)
        shutil.rmtree(path)


def _run_logged(
    argv: list[str], *, cwd: Path, log: Path, env: Mapping[str, str] | None = None
) -> None:
    """Run a build step with its output in ``log``; on failure raise with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[bench] $ {' '.join(argv[:4])} ... (log: {log})", file=sys.stderr, flush=True)
    with open(log, "ab") as out:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            check=False,
        )
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{' '.join(argv[:4])} failed ({proc.returncode}):\n{tail}")

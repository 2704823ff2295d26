"""The two scikit-learn layers the bench compares: ours (vendor_build) and the tutorial's.

Ours is whatever ``python -m vendor_build build`` writes to ``build/layer/``. The
tutorial's is rebuilt here the way the tutorial made it: ``pip install --target`` of
scikit-learn and joblib (at the project's pinned versions, so only the packaging differs),
zipped whole. Both are cached under ``build/`` with a stamp, because a fresh machine
downloads the wheels for a build and the bench must fit in 10 minutes.

For cold starts a layer is unzipped into a folder standing for Lambda's ``/opt`` and made
read-only, as Lambda mounts it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SITE_PACKAGES",
    "LayerInfo",
    "ensure_our_layer",
    "ensure_tutorial_layer",
    "extract_read_only",
    "pinned_versions",
    "tree_size",
    "zip_sizes",
]

SITE_PACKAGES = "python/lib/python3.11/site-packages"
OUR_LAYER_ZIP = Path("build/layer/sklearn-layer.zip")
WHEEL_DIR = Path("build/wheels")  # vendor_build downloads wheels here once
TUTORIAL_PACKAGES = ("scikit-learn", "joblib", "numpy", "scipy", "threadpoolctl", "cloudpickle")


@dataclass(frozen=True)
class LayerInfo:
    """A built layer zip and how it was obtained."""

    name: str
    zip_path: Path
    unzipped_bytes: int
    zipped_bytes: int
    origin: str


def pinned_versions(requirements: Path) -> dict[str, str]:
    """``name==version`` pins of a requirements file (comments and options skipped).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.txt"
    >>> _ = p.write_text("# x\\nscikit-learn==1.7.2  # pin\\n-r other.txt\\njoblib==1.6.0\\n")
    >>> pinned_versions(p)
    {'scikit-learn': '1.7.2', 'joblib': '1.6.0'}
    """
    pins: dict[str, str] = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def zip_sizes(path: Path) -> tuple[int, int]:
    """``(unzipped, zipped)`` bytes of a zip: the two numbers Lambda's limits are about."""
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    return unzipped, path.stat().st_size


def tree_size(root: Path) -> int:
    """Bytes of all regular files under ``root`` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            if not full.is_symlink():
                total += full.stat().st_size
    return total


def ensure_our_layer(repo: Path, build_dir: Path, *, rebuild: bool, log: Path) -> LayerInfo:
    """Our trimmed layer: reuse ``build/layer/sklearn-layer.zip`` or run vendor_build.

    vendor_build prints pip's progress; it goes to ``log`` (and a failure quotes its tail).
    The zip is copied under ``build/bench`` so a rebuild running alongside (``make
    layer``) cannot change it halfway through the run.
    """
    zip_path = repo / OUR_LAYER_ZIP
    origin = "cached build/layer/sklearn-layer.zip"
    if rebuild or not zip_path.exists():
        _run_logged([sys.executable, "-m", "vendor_build", "build"], cwd=repo, log=log)
        origin = "built by `python -m vendor_build build` in this run"
        if not zip_path.exists():
            raise FileNotFoundError(f"vendor_build build did not write {zip_path}")
    build_dir.mkdir(parents=True, exist_ok=True)
    snapshot = build_dir / "layer-ours.zip"
    shutil.copyfile(zip_path, snapshot)
    unzipped, zipped = zip_sizes(snapshot)
    return LayerInfo("ours", snapshot, unzipped, zipped, origin)


def ensure_tutorial_layer(repo: Path, build_dir: Path, *, rebuild: bool, log: Path) -> LayerInfo:
    """The tutorial's layer, built as the tutorial built it: ``pip install --target``, zip all.

    Same pinned versions and manylinux2014/cp311 wheels as ours, so only the packaging
    differs. pip compiles timestamp-based ``.pyc`` files by default, so they are in the
    zip (part of why the tutorial's layer is too big); unzipped elsewhere their source
    mtimes no longer match, so Python compiles from source at every cold start anyway.
    Wheels come from vendor_build's ``build/wheels`` when it has them (no second download).
    """
    pins = pinned_versions(repo / "requirements-train.txt")
    specs = [f"{name}=={pins[name]}" for name in TUTORIAL_PACKAGES if name in pins]
    stamp_path = build_dir / "tutorial-layer.stamp"
    zip_path = build_dir / "tutorial-layer.zip"
    tree = build_dir / "tutorial-layer"
    stamp = json.dumps(specs)
    fresh = (
        not rebuild
        and zip_path.exists()
        and stamp_path.exists()
        and stamp_path.read_text() == stamp
    )
    origin = "cached build/bench/tutorial-layer.zip"
    if not fresh:
        target = tree / SITE_PACKAGES
        pip = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "--target",
            str(target),
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--only-binary=:all:",
        ]
        wheels = repo / WHEEL_DIR
        local = ["--no-index", "--find-links", str(wheels)]
        attempts = [[*pip, *local, *specs], [*pip, *specs]]
        if not any(wheels.glob("*.whl")):
            attempts = attempts[1:]
        for number, argv in enumerate(attempts, start=1):
            _rmtree(tree)
            target.mkdir(parents=True)
            try:
                _run_logged(argv, cwd=repo, log=log)
                break
            except RuntimeError:
                if number == len(attempts):
                    raise
        build_dir.mkdir(parents=True, exist_ok=True)
        _zip_tree(tree, zip_path)
        stamp_path.write_text(stamp)
        origin = "built in this run: pip install --target (pinned), zipped whole"
    unzipped, zipped = zip_sizes(zip_path)
    return LayerInfo("tutorial", zip_path, unzipped, zipped, origin)


def _zip_tree(root: Path, zip_path: Path) -> None:
    """Zip ``root`` as ``zip -r`` would (deflate level 6), entries sorted."""
    tmp = zip_path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                full = Path(dirpath) / name
                archive.write(full, full.relative_to(root).as_posix())
    tmp.replace(zip_path)


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
    dest.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
    for dirpath, dirs, files in os.walk(dest):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        for name in dirs:
            path = Path(dirpath) / name
            path.chmod(0o555)
    dest.chmod(0o555)
    stamp_path.write_text(stamp)
    return dest


def _rmtree(path: Path) -> None:
    """Remove a tree even where :func:`extract_read_only` made it read-only."""
    if not path.exists():
        return
    for dirpath, _dirs, _files in os.walk(path):
        os.chmod(dirpath, 0o755)
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

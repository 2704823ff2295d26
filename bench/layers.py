"""The two scikit-learn layers the bench compares: ours (vendor_build) and the tutorial's.

Ours is whatever ``python -m vendor_build build`` writes to ``build/layer/``. The
tutorial's is ``python -m vendor_build build --naive``: made the way the tutorial made it,
``pip install --target`` of the same pinned wheels (so only the packaging differs), zipped
whole. Both are cached under ``build/``, because a fresh machine downloads the wheels for
a build and the bench must fit in 10 minutes.

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

from vendor_build.build import ZIP_NAME
from vendor_build.pins import runtime_pins
from vendor_build.verify import make_read_only, unpack_layer

__all__ = [
    "LayerInfo",
    "ensure_our_layer",
    "ensure_tutorial_layer",
    "extract_read_only",
    "unzip_task",
    "zip_sizes",
]

OUR_LAYER_ZIP = Path("build/layer") / ZIP_NAME


@dataclass(frozen=True)
class LayerInfo:
    """A built layer zip and how it was obtained."""

    name: str
    zip_path: Path
    unzipped_bytes: int
    zipped_bytes: int
    origin: str


def zip_sizes(path: Path) -> tuple[int, int]:
    """``(unzipped, zipped)`` bytes of a zip: the two numbers Lambda's limits are about."""
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    return unzipped, path.stat().st_size


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
    return LayerInfo("tutorial", zip_path, unzipped, zipped, origin)


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

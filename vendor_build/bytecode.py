"""Compile the layer's bytecode ahead of time, in a form that survives zipping and /opt.

Lambda mounts layers read-only, so Python cannot cache bytecode there: without shipped
``__pycache__`` every cold start recompiles joblib and scikit-learn from source.
Timestamp-based ``.pyc`` files would also go stale, because a zip keeps mtimes only to two
seconds; unchecked-hash ``.pyc`` files are used as they are, whatever the mtimes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vendor_build.runtime import PYTHON_VERSION

__all__ = ["BytecodeError", "compile_tree"]


class BytecodeError(RuntimeError):
    """Some modules did not compile, or the interpreter is not the target Python."""


_COMPILE_SCRIPT = """
import compileall, py_compile, sys
ok = compileall.compile_dir(sys.argv[1], quiet=1, workers=1, legacy=sys.argv[3] == "1",
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH, ddir=sys.argv[2] or None)
sys.exit(0 if ok else 1)
"""


def _drop_sources(root: Path) -> int:
    """Delete each ``.py`` that has a ``.pyc`` beside it. Returns bytes removed."""
    removed = 0
    for source in sorted(root.rglob("*.py")):
        if source.with_suffix(".pyc").is_file():
            removed += source.stat().st_size
            source.unlink()
    return removed


def compile_tree(
    root: Path,
    *,
    python_version: str = PYTHON_VERSION,
    python: str | None = None,
    ddir: str = "",
    sourceless: bool = False,
) -> tuple[int, int]:
    """Compile every ``.py`` under ``root`` with unchecked-hash invalidation.

    Returns (.pyc files, source bytes removed). Bytecode is specific to the minor version,
    so this runs in the target Python: the current interpreter when it matches
    ``python_version``, else ``python`` (a path). ``ddir`` is the directory recorded in
    tracebacks (the path under /opt). ``sourceless`` writes ``mod.pyc`` beside ``mod.py``
    (the legacy layout Python imports without a source) and deletes the ``.py``: the layer
    then carries the code once instead of twice, at the price of tracebacks without
    source lines.
    """
    root = Path(root)
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python is None:
        if current != python_version:
            raise BytecodeError(
                f"bytecode for Python {python_version} needs that interpreter; this is {current}"
                f" (pass its path)"
            )
        python = sys.executable
    # A fresh interpreter (not -I, which ignores the seed), one process, a fixed hash seed:
    # marshal's output depends on set iteration order and on which strings are already
    # interned, so this is what makes the same sources give the same bytes (and sha256).
    argv = [python, "-c", _COMPILE_SCRIPT, str(root), ddir, "1" if sourceless else "0"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    ok = subprocess.run(argv, env=env, check=False).returncode == 0
    if not ok:
        raise BytecodeError(f"some modules under {root} failed to compile (see above)")
    removed = _drop_sources(root) if sourceless else 0
    return sum(1 for _ in root.rglob("*.pyc")), removed

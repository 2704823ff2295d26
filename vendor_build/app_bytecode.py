"""Bytecode for the function's own code, so a cold start does not compile it.

``/var/task`` is read-only on Lambda, and ``chalice package``/``chalice deploy`` zip only
source for ``app.py`` and Chalice's runtime (``chalice/app.py``, a large module), so
Python compiled them, and any ``chalicelib`` module without valid bytecode, on every cold
start (the layer ships its bytecode already, see ``vendor_build.trim``).

Chalice zips ``chalicelib/`` as it is, ``__pycache__`` included, and copies ``vendor/``
into the zip's root. So :func:`compile_function_code` compiles ``chalicelib`` in place
and writes the bytecode of ``app.py`` and of Chalice's runtime under ``vendor/``, where
the zip puts it next to the sources Chalice adds.

All of it is *checked-hash* bytecode: Python validates it against a hash of the source
beside it, not its mtime (which unzipping changes), so bytecode that does not match its
source is recompiled, never run. Run it right before ``chalice package``/``deploy``.
"""

from __future__ import annotations

import importlib.util
import py_compile
import sys
from pathlib import Path

from vendor_build.runtime import PYTHON_VERSION_INFO

__all__ = ["LAMBDA_PYTHON", "compile_function_code"]

LAMBDA_PYTHON = PYTHON_VERSION_INFO  # the function's runtime: bytecode is per minor version
_MODE = py_compile.PycInvalidationMode.CHECKED_HASH


def _compile(source: Path, target: Path, name_in_zip: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    py_compile.compile(
        str(source), cfile=str(target), dfile=name_in_zip, doraise=True, invalidation_mode=_MODE
    )
    return target


def compile_function_code(api_dir: Path) -> list[Path]:
    """Write checked-hash bytecode for everything the function imports from its own zip.

    Returns the files written; none when this interpreter is not the runtime's Python
    version (its bytecode would be ignored there, so writing it would only mislead).
    """
    if sys.version_info[:2] != LAMBDA_PYTHON:
        return []
    import chalice
    import chalice.app

    api_dir = Path(api_dir)
    vendor = api_dir / "vendor"
    written = []
    for source in sorted((api_dir / "chalicelib").rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))  # in place, beside it
        written.append(_compile(source, cached, source.relative_to(api_dir).as_posix()))
    pairs = [
        (api_dir / "app.py", "app.py"),
        (Path(chalice.app.__file__), "chalice/app.py"),
        (Path(chalice.__file__), "chalice/__init__.py"),
    ]
    for source, name_in_zip in pairs:
        cached = Path(importlib.util.cache_from_source(name_in_zip))
        written.append(_compile(source, vendor / cached, name_in_zip))
    return written

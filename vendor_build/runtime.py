"""The Lambda runtime the layer and the function are built for, named in one place.

Bytecode, the layer's ``python/lib/pythonX.Y/site-packages`` folder, the runtime recorded when
publishing and the sandboxes that stand for Lambda all follow this version. Chalice takes the
function's runtime from the interpreter that runs it, so ``.venv`` is this version too
(``make install``, ``.ci/find-python313``).
"""

from __future__ import annotations

__all__ = ["PYTHON_VERSION", "PYTHON_VERSION_INFO", "RUNTIME"]

#: python3.13 runs on Amazon Linux 2023 (glibc 2.34), supported to 2029-06-30.
PYTHON_VERSION = "3.13"
PYTHON_VERSION_INFO = tuple(int(part) for part in PYTHON_VERSION.split("."))
#: Lambda's name for it (``Runtime``, ``CompatibleRuntimes``).
RUNTIME = f"python{PYTHON_VERSION}"

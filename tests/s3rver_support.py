"""An S3 server that verifies Signature V4 in its own code, for the tests.

Why: moto accepts any signature, and botocore's signer, which the unit tests compare
``chalicelib.s3_http`` with, shares botocore's reading of the specification. The
``@20minutes/s3rver`` npm package recomputes every signed request's signature in its own
JavaScript (``lib/signature/v4.js``) and answers ``SignatureDoesNotMatch`` (403) when it
differs. It needs Node.js >= 24: npm's ``node`` package brings it. ``make s3rver`` (a
prerequisite of ``make test``) installs both into ``build/s3rver`` from the lockfile in
``tests/s3rver/``; ``tests/s3rver/run.js`` starts the server, since the package lacks the
command-line file it names.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from stack import REPO_ROOT
from stack.local.services import Service, _service, free_port

__all__ = ["ACCESS_KEY_ID", "S3RVER_DIR", "SECRET_ACCESS_KEY", "missing", "s3rver_server"]

S3RVER_DIR = REPO_ROOT / "build" / "s3rver"
_NODE = S3RVER_DIR / "node_modules" / ".bin" / "node"
_STAMP = S3RVER_DIR / ".installed"
_LAUNCHER = REPO_ROOT / "tests" / "s3rver" / "run.js"

# The server's one built-in account (lib/models/account.js); any other key id gets
# InvalidAccessKeyId.
ACCESS_KEY_ID = "S3RVER"
SECRET_ACCESS_KEY = "S3RVER"


def missing() -> str | None:
    """Why the server cannot start on this machine, or ``None`` when it can."""
    if not (_STAMP.exists() and _NODE.exists()):
        return (
            f"the signature-verifying S3 server is not installed in {S3RVER_DIR}: "
            f"run `make s3rver` (`make test` does)"
        )
    return None


def s3rver_server(
    directory: Path, *, log_dir: Path, port: int | None = None
) -> contextlib.AbstractContextManager[Service]:
    """s3rver on loopback, storing buckets under ``directory``; stopped on exit."""
    port = port or free_port()
    return _service(
        "s3rver",
        [str(_NODE), str(_LAUNCHER), str(port), str(directory)],
        port=port,
        ready_path="/",
        log_path=log_dir / f"s3rver-{port}.log",
        env={"NODE_PATH": str(S3RVER_DIR / "node_modules")},
    )

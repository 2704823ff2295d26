"""Start ``lambda_sandbox.py`` in a fresh interpreter laid out like Lambda, and read its report.

The layer check (``verify``), the packaged API's smoke test (``smoke``) and the cold-start
benchmark all run their code this way: one sandbox script, one spec, one report. This
module also makes the folder standing for ``/var/runtime``; the callers unzip ``/opt``
and ``/var/task`` themselves.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vendor_build.runtime import PYTHON_VERSION
from vendor_build.targets import TargetError, find_interpreter

__all__ = [
    "RUNTIME_SDK_PACKAGES",
    "SANDBOX_SCRIPT",
    "SandboxError",
    "SandboxRun",
    "SandboxSpec",
    "find_python",
    "run_sandbox",
    "runtime_sdk_dir",
]

SANDBOX_SCRIPT = Path(__file__).resolve().parent / "lambda_sandbox.py"
#: What the python3.13 runtime bundles in /var/runtime: boto3 and what it imports.
RUNTIME_SDK_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six.py",
)


class SandboxError(RuntimeError):
    """The sandboxed interpreter failed, or reported a failed import."""


@dataclass(frozen=True)
class SandboxSpec:
    """What the sandbox does (see ``lambda_sandbox.py``); paths stand for Lambda's folders.

    ``context`` holds :class:`~vendor_build.lambda_sandbox.LambdaContext`'s arguments;
    ``predict`` holds ``model_dir``, ``spam_label`` and ``examples``.
    """

    opt: Path
    task: Path | None = None
    runtime: Path | None = None
    python_version: str = PYTHON_VERSION
    imports: Sequence[str] = ()
    handler: str | None = None
    init: str | None = None
    init_args: Sequence[Any] = ()
    events: Sequence[Mapping[str, Any]] = ()
    context: Mapping[str, Any] = field(default_factory=dict)
    predict: Mapping[str, Any] | None = None

    def to_json(self) -> str:
        """The spec as the sandbox reads it (paths as strings)."""
        return json.dumps(asdict(self), default=str)


@dataclass(frozen=True)
class SandboxRun:
    """The sandbox's report, when it was started (``time.monotonic()``) and how long it ran."""

    report: dict[str, Any]
    started: float
    seconds: float


def find_python(python_version: str = PYTHON_VERSION) -> str:
    """A base (non-venv) interpreter of ``python_version`` (``targets.find_interpreter``)."""
    try:
        return find_interpreter(python_version)
    except TargetError as exc:
        raise SandboxError(f"nothing to run the sandbox with: {exc}") from exc


def run_sandbox(
    spec: SandboxSpec,
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    python: str | Sequence[str] | None = None,
    timeout: float = 300,
) -> SandboxRun:
    """Run ``spec`` in ``python -I -S -B lambda_sandbox.py`` with exactly ``env``.

    ``python`` is an interpreter's path, or a command that starts one (an emulator and the
    interpreter it runs, see ``vendor_build.emulator``).

    Raises :class:`SandboxError` when the interpreter exits non-zero, prints no report,
    or reports a failed import; the message quotes the end of its stderr.
    """
    if python is None:
        python = find_python(spec.python_version)
    argv = [
        *([python] if isinstance(python, str) else python),
        "-I",
        "-S",
        "-B",
        str(SANDBOX_SCRIPT),
        spec.to_json(),
    ]
    started = time.monotonic()
    done = subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    seconds = time.monotonic() - started
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise SandboxError(
            f"the sandboxed interpreter failed (exit {done.returncode}):\n{done.stderr[-6000:]}"
        ) from None
    if done.returncode != 0 or "error" in report:
        raise SandboxError(
            f"the sandboxed interpreter failed (exit {done.returncode}): "
            f"{report.get('error', '')}\n{done.stderr[-6000:]}"
        )
    return SandboxRun(report, started, seconds)


def runtime_sdk_dir(dest: Path, site_packages: Path | None = None) -> Path:
    """A folder standing for /var/runtime: symlinks to this environment's boto3 stack.

    ``dest`` is made anew. A one-file module's bytecode (six's) sits in
    ``site-packages/__pycache__``: it is linked too, as the runtime has it compiled
    (without it, six would be compiled at every cold start).
    """
    import botocore

    source = site_packages or Path(botocore.__file__).resolve().parent.parent
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in RUNTIME_SDK_PACKAGES:
        target = source / name
        if not target.exists():
            raise SandboxError(f"{target} not found: the runtime SDK needs {name}")
        (dest / name).symlink_to(target)
        cached = Path(importlib.util.cache_from_source(str(target)))
        if target.suffix == ".py" and cached.exists():
            (dest / "__pycache__").mkdir(exist_ok=True)
            (dest / "__pycache__" / cached.name).symlink_to(cached)
    return dest

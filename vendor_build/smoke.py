"""Run the whole deployable as Lambda would: packaged API in /var/task, our layer in /opt.

``chalice package`` makes the deployment zip and the SAM template; the zip becomes a
read-only folder standing for ``/var/task`` and the layer one for ``/opt``; a runtime
folder holds only the SDK the python3.13 runtime bundles (``sandbox.runtime_sdk_dir``).
:func:`invoke` then calls the handler named in the template with API Gateway proxy
events (``lambda_events.proxy_event``), in the sandbox (``vendor_build.sandbox``), with
the template's environment variables. API Gateway answers CORS preflights itself, from
the template's mock integration: :func:`preflight_headers` reads that answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vendor_build.app_bytecode import compile_function_code
from vendor_build.runtime import PYTHON_VERSION
from vendor_build.sandbox import SandboxError, SandboxSpec, run_sandbox

__all__ = [
    "Invocation",
    "PackagedApi",
    "SmokeError",
    "chalice_package",
    "invoke",
    "preflight_headers",
]


class SmokeError(RuntimeError):
    """Packaging or the simulated invocation failed."""


@dataclass(frozen=True)
class PackagedApi:
    """What ``chalice package`` wrote: the deployment zip and the SAM template."""

    deployment_zip: Path
    template: dict[str, Any]

    def function(self, name: str = "APIHandler") -> dict[str, Any]:
        """The template's properties of one Lambda function."""
        return self.template["Resources"][name]["Properties"]


@dataclass(frozen=True)
class Invocation:
    """The handler's responses to each event, and its cold-start import time."""

    init_s: float
    responses: list[dict[str, Any]]
    process_s: float


def chalice_package(
    project_dir: Path, out_dir: Path, *, stage: str = "dev", chalice: str | None = None
) -> PackagedApi:
    """``chalice package --stage STAGE OUT_DIR`` (offline; no credentials needed)."""
    executable = chalice or str(Path(sys.executable).parent / "chalice")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    compile_function_code(project_dir)
    done = subprocess.run(
        [executable, "package", "--stage", stage, str(out_dir)],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SmokeError(f"chalice package failed:\n{done.stdout}\n{done.stderr}")
    return PackagedApi(
        Path(out_dir) / "deployment.zip", json.loads((Path(out_dir) / "sam.json").read_text())
    )


def preflight_headers(api: PackagedApi, path: str) -> dict[str, str]:
    """The headers API Gateway's mock integration answers an OPTIONS on ``path`` with."""
    swagger = api.template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    integration = swagger["paths"][path]["options"]["x-amazon-apigateway-integration"]
    parameters = integration["responses"]["default"]["responseParameters"]
    prefix = "method.response.header."
    return {key[len(prefix) :]: value.strip("'") for key, value in parameters.items()}


def invoke(
    api: PackagedApi,
    task_dir: Path,
    opt_dir: Path,
    runtime_dir: Path,
    events: Sequence[Mapping[str, Any]],
    *,
    env: Mapping[str, str] | None = None,
    python: str | None = None,
    python_version: str = PYTHON_VERSION,
) -> Invocation:
    """Cold-start the packaged handler in an isolated interpreter and send it ``events``.

    Its environment is the template's variables plus ``env`` (credentials, the S3
    endpoint) and what the runtime itself sets; nothing else from this process.
    """
    function = api.function()
    variables = dict(function.get("Environment", {}).get("Variables", {}))
    name = "spam-api-smoke"
    environment = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task_dir),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python_version}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.get("MemorySize", 128)),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        **variables,
        **(env or {}),
    }
    spec = SandboxSpec(
        opt=opt_dir,
        task=task_dir,
        runtime=runtime_dir,
        python_version=python_version,
        handler=function["Handler"],
        events=list(events),
        context={
            "function_name": name,
            "memory_mb": int(function.get("MemorySize", 128)),
            "timeout_s": float(function.get("Timeout", 3)),
        },
    )
    try:
        run = run_sandbox(spec, env=environment, cwd=task_dir, python=python)
    except SandboxError as exc:
        raise SmokeError(f"the handler failed: {exc}") from exc
    return Invocation(run.report["init_s"], run.report["responses"], run.seconds)

"""Run the whole deployable as Lambda would: packaged API in /var/task, our layer in /opt.

``chalice package`` makes the deployment zip and the SAM template; the zip becomes a
read-only folder standing for ``/var/task`` and the layer one for ``/opt``; a runtime
folder holds only the SDK the python3.11 runtime bundles (boto3 and its dependencies).
:func:`invoke` then calls the handler named in the template with API Gateway proxy
events, in an isolated interpreter (see ``lambda_sim.py``), with the template's
environment variables. API Gateway answers CORS preflights itself, from the template's
mock integration: :func:`preflight_headers` reads that answer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.lambda_events import proxy_event
from vendor_build.app_bytecode import compile_function_code
from vendor_build.verify import find_python

__all__ = [
    "RUNTIME_SDK_PACKAGES",
    "Invocation",
    "PackagedApi",
    "SmokeError",
    "api_gateway_event",
    "chalice_package",
    "invoke",
    "preflight_headers",
    "runtime_sdk_dir",
]

SIM = Path(__file__).resolve().parent / "lambda_sim.py"
#: What the python3.11 runtime bundles in /var/runtime: boto3 and what it imports.
RUNTIME_SDK_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six.py",
)


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
        check=False,
    )
    if done.returncode != 0:
        raise SmokeError(f"chalice package failed:\n{done.stdout}\n{done.stderr}")
    return PackagedApi(
        Path(out_dir) / "deployment.zip", json.loads((Path(out_dir) / "sam.json").read_text())
    )


def runtime_sdk_dir(dest: Path, site_packages: Path | None = None) -> Path:
    """A folder standing for /var/runtime: symlinks to this environment's boto3 stack.

    ``dest`` is made anew. A one-file module's bytecode (six's) sits in
    ``site-packages/__pycache__``: it is linked too, as the runtime has it compiled
    (without it, six was compiled at every cold start: ~9 ms).
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
            raise SmokeError(f"{target} not found: the runtime SDK needs {name}")
        (dest / name).symlink_to(target)
        cached = Path(importlib.util.cache_from_source(str(target)))
        if target.suffix == ".py" and cached.exists():
            (dest / "__pycache__").mkdir(exist_ok=True)
            (dest / "__pycache__" / cached.name).symlink_to(cached)
    return dest


def api_gateway_event(
    method: str,
    path: str,
    *,
    body: str | None = None,
    headers: Mapping[str, str] | None = None,
    stage: str = "api",
) -> dict[str, Any]:
    """An API Gateway REST (v1) Lambda proxy event, as API Gateway sends it."""
    return proxy_event(method, path, body, headers=headers, stage=stage, user_agent="smoke-test")


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
    python_version: str = "3.11",
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
    args = {
        "task": str(task_dir),
        "opt": str(opt_dir),
        "runtime": str(runtime_dir),
        "python_version": python_version,
        "handler": function["Handler"],
        "function_name": name,
        "memory_mb": int(function.get("MemorySize", 128)),
        "timeout_s": float(function.get("Timeout", 3)),
        "events": list(events),
    }
    argv = [python or find_python(python_version), "-I", "-S", "-B", str(SIM), json.dumps(args)]
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        cwd=task_dir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SmokeError(f"the handler failed (exit {done.returncode}):\n{done.stderr[-6000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Invocation(result["init_s"], result["responses"], elapsed)

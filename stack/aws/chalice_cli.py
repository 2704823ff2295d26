"""The ``chalice`` CLI as deploy and destroy use it: deploy, delete, package.

Why a subprocess and not Chalice's Python internals: ``chalice deploy`` is the documented,
supported interface, and it is what a reader of the README would type. Why a class: the
tests swap ``deploy`` for ``package`` (an emulator cannot take ImportRestApi, see
platform-facts), so everything around it still runs for real.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.aws.chalice_project import chalice_api_url
from stack.aws.context import DeployError
from stack.processes import run_streaming
from vendor_build.app_bytecode import compile_function_code

__all__ = ["DEPLOY_CALLS", "ChaliceCli", "chalice_executable"]

#: What ``chalice deploy`` calls on a first deploy (printed by ``--dry-run``; an update
#: calls the matching Update*/Put* operations instead).
DEPLOY_CALLS = (
    "iam.get_role / iam.create_role / iam.put_role_policy",
    "lambda.create_function (layers and environment from .chalice/config.json)",
    "lambda.put_function_concurrency (when reserved_concurrency is configured)",
    "apigateway.import_rest_api / apigateway.create_deployment",
    "lambda.add_permission (API Gateway may invoke the function)",
)


def chalice_executable() -> str:
    """``chalice`` from the running interpreter's environment (the repo's .venv)."""
    candidate = Path(sys.executable).parent / "chalice"
    return str(candidate) if candidate.exists() else "chalice"


@dataclass
class ChaliceCli:
    """Runs ``chalice --project-dir DIR ...`` with a given environment."""

    project_dir: Path
    env: Mapping[str, str]
    out: Callable[[str], None] = print

    def _run(self, *args: str) -> str:
        if args[0] in ("deploy", "package"):
            compile_function_code(self.project_dir)  # bytecode goes into the zip
        argv = [chalice_executable(), "--project-dir", str(self.project_dir), *args]
        self.out("$ chalice " + " ".join(args))
        code, lines = run_streaming(argv, env=self.env, cwd=self.project_dir, out=self.out)
        output = "\n".join(lines)
        if code != 0:
            raise DeployError(f"`chalice {' '.join(args)}` failed (exit {code})")
        return output

    def deploy(self, stage: str) -> str:
        """``chalice deploy --stage``; returns the REST API URL it recorded."""
        self._run("deploy", "--stage", stage)
        url = chalice_api_url(self.project_dir, stage)
        if not url:
            raise DeployError(f"chalice deployed stage {stage!r} but recorded no REST API URL")
        return url

    def delete(self, stage: str) -> None:
        """``chalice delete --stage``: the role, function and API that deploy made."""
        self._run("delete", "--stage", stage)

    def package(self, stage: str, out_dir: Path, pkg_format: str = "cloudformation") -> Path:
        """``chalice package`` into ``out_dir`` (works offline with a region set)."""
        self._run("package", "--stage", stage, "--pkg-format", pkg_format, str(out_dir))
        return out_dir

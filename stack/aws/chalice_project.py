"""The Chalice project as deploy sees it: the stage settings it writes, what Chalice
recorded, and the ``chalice`` CLI that deploys and deletes the API.

Why the config is edited here: ``chalice deploy`` takes a stage's environment, layers and
policy only from ``.chalice/``, so the stack's outputs (bucket, layer ARN, page origin)
have to be written there before it runs.

Why a subprocess and not Chalice's Python internals: ``chalice deploy`` is the documented,
supported interface, and it is what a reader of the README would type. Why a class
(:class:`ChaliceCli`): the tests swap ``deploy`` for ``package`` (an emulator cannot take
ImportRestApi, see platform-facts), so everything around it still runs for real.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.aws.context import DeployError
from stack.processes import run_streaming
from vendor_build.app_bytecode import compile_function_code

__all__ = [
    "DEPLOY_CALLS",
    "ChaliceCli",
    "chalice_api_url",
    "chalice_executable",
    "chalice_rest_api_id",
    "legacy_extras",
    "load_config",
    "point_policy_at_bucket",
    "set_capture_grant",
    "set_stage_environment",
    "set_stage_layer",
    "stack_name",
]


def stack_name(project_dir: Path, stage: str) -> str:
    """The stage's CloudFormation stack: ``<app_name>-<stage>``, like its function."""
    return f"{load_config(project_dir, stage)['app_name']}-{stage}"


def legacy_extras(project_dir: Path, stage: str) -> list[str]:
    """What a deploy from before the stack recorded and left outside it, and how to remove it.

    Those deploys listed their layer versions and layer zips in
    ``.chalice/deployed/<stage>-extras.json``; the stack now has its own, so these are unused.
    """
    path = project_dir / ".chalice" / "deployed" / f"{stage}-extras.json"
    if not path.exists():
        return []
    extras = json.loads(path.read_text())
    lines = [f"left from a deploy before the stack ({path.name}), no longer used:"]
    for arn in extras.get("layer_version_arns", []):
        name, version = arn.split(":")[6:8]
        lines.append(
            f"  aws lambda delete-layer-version --layer-name {name} --version-number {version}"
        )
    for obj in extras.get("layer_objects", []):
        lines.append(f"  aws s3 rm s3://{obj['bucket']}/{obj['key']}")
    lines.append(f"then delete {path}")
    return lines


def _config_path(project_dir: Path) -> Path:
    return project_dir / ".chalice" / "config.json"


def _write_json(path: Path, data: Any) -> None:
    """Write through a temporary file and a rename, so a crash never leaves half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def load_config(project_dir: Path, stage: str) -> dict[str, Any]:
    """The Chalice config, checked to have ``stage``; a clear error otherwise."""
    path = _config_path(project_dir)
    if not path.exists():
        raise DeployError(f"no Chalice config at {path}: is --project-dir the Chalice project?")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DeployError(f"{path} is not valid JSON: {exc}") from exc
    if stage not in config.get("stages", {}):
        stages = ", ".join(sorted(config.get("stages", {}))) or "none"
        raise DeployError(f"stage {stage!r} is not in {path} (stages there: {stages})")
    return config


def set_stage_environment(
    project_dir: Path, stage: str, values: dict[str, str], unset: Iterable[str] = ()
) -> bool:
    """Set environment variables of ``stage`` in config.json, and remove those in ``unset``;
    True when the file changed."""
    config = load_config(project_dir, stage)
    env = config["stages"][stage].setdefault("environment_variables", {})
    stale = [name for name in unset if name in env]
    if not stale and all(env.get(k) == v for k, v in values.items()):
        return False
    for name in stale:
        del env[name]
    env.update(values)
    _write_json(_config_path(project_dir), config)
    return True


_S3_ARN = re.compile(r"^arn:aws:s3:::[^/]+")


def point_policy_at_bucket(project_dir: Path, stage: str, bucket: str) -> Path | None:
    """Make the stage's IAM policy file name ``bucket`` in every S3 resource.

    The policy files name a bucket literally (Chalice has no templating), and a deploy
    may choose another bucket (names are global). Only the bucket part of each
    ``arn:aws:s3:::BUCKET/...`` changes; returns the file when it changed.
    """
    path = _policy_file(project_dir, stage)
    if path is None:
        return None
    policy = json.loads(path.read_text())
    changed = False
    for statement in policy.get("Statement", []):
        resources = statement.get("Resource")
        if resources is None:
            continue
        as_list = [resources] if isinstance(resources, str) else list(resources)
        renamed = [_S3_ARN.sub(f"arn:aws:s3:::{bucket}", r) for r in as_list]
        if renamed != as_list:
            statement["Resource"] = renamed[0] if isinstance(resources, str) else renamed
            changed = True
    if not changed:
        return None
    _write_json(path, policy)
    return path


def _policy_file(project_dir: Path, stage: str) -> Path | None:
    """The stage's IAM policy file (``iam_policy_file``), if it names one."""
    config = load_config(project_dir, stage)
    name = config["stages"][stage].get("iam_policy_file") or config.get("iam_policy_file")
    return project_dir / ".chalice" / name if name else None


#: The policy statement that lets the function create pending captures.
CAPTURE_STATEMENT = "CreatePendingCaptures"


def set_capture_grant(
    project_dir: Path, stage: str, bucket: str, capture_prefix: str | None
) -> Path | None:
    """Grant ``s3:PutObject`` on ``<capture_prefix>pending/*`` only while capture is on.

    ``capture_prefix`` ``None`` (capture off) removes the statement, so a stage that keeps
    nothing cannot write there. Returns the policy file when it changed.
    """
    path = _policy_file(project_dir, stage)
    if path is None:
        return None
    policy = json.loads(path.read_text())
    kept = [s for s in policy.get("Statement", []) if s.get("Sid") != CAPTURE_STATEMENT]
    if capture_prefix is not None:
        grant = {
            "Sid": CAPTURE_STATEMENT,
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/{capture_prefix}pending/*"],
        }
        logs = [i for i, s in enumerate(kept) if str(s.get("Sid", "")).endswith("Logs")]
        kept.insert(logs[0] if logs else len(kept), grant)  # beside the other S3 grants
    if kept == policy.get("Statement"):
        return None
    policy["Statement"] = kept
    _write_json(path, policy)
    return path


#: The layer the stack publishes, and the placeholder name the committed config carries.
OUR_LAYERS = {"spam-classifier-sklearn", "spam-sklearn-layer"}
#: Where deploy uploads the layer zips, in the model bucket.
LAYER_PREFIX = "layers/spam-classifier-sklearn/"


def set_stage_layer(project_dir: Path, stage: str, arn: str) -> bool:
    """Make ``arn`` the stage's scikit-learn layer; other layers stay. True when it changed.

    Any version of our layer (an older one, another account's) and any placeholder (account
    000000000000) goes; a public layer someone added on purpose stays.
    """
    config = load_config(project_dir, stage)
    layers = config["stages"][stage].get("layers", [])
    kept = [
        a
        for a in layers
        if a.split(":")[4:5] != ["000000000000"]
        and not any(f":layer:{n}:" in a for n in OUR_LAYERS)
    ]
    if layers == [arn, *kept]:
        return False
    config["stages"][stage]["layers"] = [arn, *kept]
    _write_json(_config_path(project_dir), config)
    return True


def _recorded_rest_api(project_dir: Path, stage: str, key: str) -> str | None:
    """``key`` of the REST API Chalice recorded for ``stage`` after a deploy, if any."""
    path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        return None
    for resource in json.loads(path.read_text()).get("resources", []):
        if resource.get("resource_type") == "rest_api" and resource.get(key):
            return str(resource[key])
    return None


def chalice_api_url(project_dir: Path, stage: str) -> str | None:
    """The REST API URL Chalice recorded for ``stage`` after a deploy, if any."""
    return _recorded_rest_api(project_dir, stage, "rest_api_url")


def chalice_rest_api_id(project_dir: Path, stage: str) -> str | None:
    """The REST API id Chalice recorded for ``stage`` after a deploy, if any."""
    return _recorded_rest_api(project_dir, stage, "rest_api_id")


# --- the chalice CLI ------------------------------------------------------------------------

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

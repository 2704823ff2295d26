"""The stage settings deploy writes into the Chalice project, and what Chalice recorded.

Why the config is edited here: ``chalice deploy`` takes a stage's environment, layers and
policy only from ``.chalice/``, so the stack's outputs (bucket, layer ARN, page origin)
have to be written there before it runs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from stack.aws.context import DeployError

__all__ = [
    "chalice_api_url",
    "chalice_rest_api_id",
    "legacy_extras",
    "load_config",
    "point_policy_at_bucket",
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


def set_stage_environment(project_dir: Path, stage: str, values: dict[str, str]) -> bool:
    """Set environment variables of ``stage`` in config.json; True when the file changed."""
    config = load_config(project_dir, stage)
    env = config["stages"][stage].setdefault("environment_variables", {})
    if all(env.get(k) == v for k, v in values.items()):
        return False
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
    stage_config = load_config(project_dir, stage)
    name = stage_config["stages"][stage].get("iam_policy_file") or stage_config.get(
        "iam_policy_file"
    )
    if not name:
        return None
    path = project_dir / ".chalice" / name
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

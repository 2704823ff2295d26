"""What a deploy created (the extras state file) and the stage settings it writes.

Why a state file: ``chalice delete`` removes only what Chalice made (role, function,
API). The layer versions, the layer zip in S3 and the page bucket are ours, so deploy
records each one the moment it exists in ``.chalice/deployed/<stage>-extras.json``
(gitignored, next to Chalice's own ``<stage>.json``) and destroy deletes exactly those,
even after a deploy that stopped halfway.

Why the config is edited here: ``chalice deploy`` takes a stage's environment only from
``.chalice/config.json``, so the model bucket chosen at deploy time has to be written
there (as vendor_build writes the layer ARN).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from stack.aws import DeployError

__all__ = [
    "DeployState",
    "chalice_api_url",
    "chalice_rest_api_id",
    "drop_stale_layers",
    "load_config",
    "point_policy_at_bucket",
    "set_stage_environment",
    "stage_architecture",
    "stage_layers",
    "state_path",
]


@dataclass
class DeployState:
    """Everything a deploy made outside Chalice's own records, for destroy to undo."""

    stage: str
    region: str = ""
    account: str = ""
    model_bucket: str = ""
    model_bucket_created: bool = False
    model_prefix: str = "models/"
    model_version: str = ""
    layer_version_arns: list[str] = field(default_factory=list)
    layer_objects: list[dict[str, str]] = field(default_factory=list)
    api_url: str = ""
    page_bucket: str = ""
    page_bucket_created: bool = False
    page_url: str = ""
    log_group: str = ""

    @classmethod
    def load(cls, path: Path, stage: str) -> DeployState:
        """The recorded state, or a fresh one when nothing was deployed yet."""
        if not path.exists():
            return cls(stage=stage)
        raw = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def save(self, path: Path) -> None:
        """Write atomically (a crash never leaves half a file that destroy cannot read)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_json(path, asdict(self), sort_keys=True)


def state_path(project_dir: Path, stage: str) -> Path:
    """``<project>/.chalice/deployed/<stage>-extras.json``."""
    return project_dir / ".chalice" / "deployed" / f"{stage}-extras.json"


def _config_path(project_dir: Path) -> Path:
    return project_dir / ".chalice" / "config.json"


def _write_json(path: Path, data: Any, *, sort_keys: bool = False) -> None:
    """Write through a temporary file and a rename, so a crash never leaves half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=sort_keys) + "\n")
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


def stage_layers(project_dir: Path, stage: str) -> list[str]:
    """The layer ARNs the stage's config lists (what vendor_build wrote)."""
    return list(load_config(project_dir, stage)["stages"][stage].get("layers", []))


def stage_architecture(project_dir: Path, stage: str) -> str:
    """The stage's ``lambda_architecture`` (Chalice's lookup: stage, then top level, x86_64)."""
    config = load_config(project_dir, stage)
    stage_config = config["stages"][stage]
    return str(stage_config.get("lambda_architecture", config.get("lambda_architecture", "x86_64")))


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


def drop_stale_layers(project_dir: Path, stage: str, layer_name: str, ours: str) -> list[str]:
    """Remove layer ARNs that cannot be ours in this account and region; returns them.

    Those are placeholders (account ``000000000000``) and versions of ``layer_name`` from
    another account or region (``ours`` is ``arn:aws:lambda:REGION:ACCOUNT:layer:``).
    Anything else (a public layer someone added on purpose) stays.
    """
    config = load_config(project_dir, stage)
    layers = config["stages"][stage].get("layers", [])
    stale = [
        arn
        for arn in layers
        if arn.split(":")[4:5] == ["000000000000"]
        or (arn.split(":")[6:7] == [layer_name] and not arn.startswith(ours))
    ]
    if stale:
        config["stages"][stage]["layers"] = [arn for arn in layers if arn not in stale]
        _write_json(_config_path(project_dir), config)
    return stale


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

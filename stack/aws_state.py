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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from stack.aws import DeployError

__all__ = [
    "DeployState",
    "chalice_api_url",
    "load_config",
    "set_stage_environment",
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
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)


def state_path(project_dir: Path, stage: str) -> Path:
    """``<project>/.chalice/deployed/<stage>-extras.json``."""
    return project_dir / ".chalice" / "deployed" / f"{stage}-extras.json"


def _config_path(project_dir: Path) -> Path:
    return project_dir / ".chalice" / "config.json"


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


def set_stage_environment(project_dir: Path, stage: str, values: dict[str, str]) -> bool:
    """Set environment variables of ``stage`` in config.json; True when the file changed."""
    config = load_config(project_dir, stage)
    env = config["stages"][stage].setdefault("environment_variables", {})
    if all(env.get(k) == v for k, v in values.items()):
        return False
    env.update(values)
    path = _config_path(project_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(tmp, path)
    return True


def chalice_api_url(project_dir: Path, stage: str) -> str | None:
    """The REST API URL Chalice recorded for ``stage`` after a deploy, if any."""
    path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        return None
    for resource in json.loads(path.read_text()).get("resources", []):
        if resource.get("resource_type") == "rest_api" and resource.get("rest_api_url"):
            return str(resource["rest_api_url"])
    return None

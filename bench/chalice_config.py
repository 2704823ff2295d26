"""What Lambda would be configured with, read from ``spam_api/.chalice/config.json``.

Chalice resolves a setting from the most specific place that has it: the stage's
``lambda_functions.api_handler``, then the stage, then the top level, then its default
(128 MB of memory). The cost estimate and the cold-start environment must use the same
resolution, so it is written once here as pure functions over the parsed JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CHALICE_DEFAULT_MEMORY_MB",
    "environment",
    "load_config",
    "memory_size",
    "pick_stage",
]

CHALICE_DEFAULT_MEMORY_MB = 128
API_HANDLER = "api_handler"


def load_config(api_dir: Path) -> dict[str, Any]:
    """The parsed ``.chalice/config.json`` of the Chalice project in ``api_dir``."""
    return json.loads((api_dir / ".chalice" / "config.json").read_text(encoding="utf-8"))


def pick_stage(config: Mapping[str, Any], preferred: str) -> str:
    """``preferred`` if the config has it, else the first non-local stage, else any stage.

    >>> pick_stage({"stages": {"local": {}, "prod": {}}}, "dev")
    'prod'
    """
    stages = list(config.get("stages", {}))
    if preferred in stages:
        return preferred
    for name in stages:
        if name != "local":
            return name
    if stages:
        return stages[0]
    raise ValueError("config.json defines no stages")


def _levels(config: Mapping[str, Any], stage: str) -> list[Mapping[str, Any]]:
    """Most specific first: the API handler in the stage, the stage, the top level."""
    stage_cfg = config.get("stages", {}).get(stage, {})
    handler_cfg = stage_cfg.get("lambda_functions", {}).get(API_HANDLER, {})
    return [handler_cfg, stage_cfg, config]


def memory_size(config: Mapping[str, Any], stage: str) -> tuple[int, str]:
    """Memory in MB for the API handler and where it came from.

    >>> memory_size({"stages": {"dev": {"lambda_memory_size": 1024}}}, "dev")
    (1024, 'stages.dev.lambda_memory_size')
    >>> memory_size({"stages": {"dev": {}}}, "dev")
    (128, "Chalice's default")
    """
    names = [f"stages.{stage}.lambda_functions.{API_HANDLER}", f"stages.{stage}", "top level"]
    for where, level in zip(names, _levels(config, stage), strict=True):
        if "lambda_memory_size" in level:
            label = (
                "lambda_memory_size (top level)"
                if where == "top level"
                else f"{where}.lambda_memory_size"
            )
            return int(level["lambda_memory_size"]), label
    return CHALICE_DEFAULT_MEMORY_MB, "Chalice's default"


def environment(config: Mapping[str, Any], stage: str) -> dict[str, str]:
    """Environment variables Lambda would set: top level, overridden by stage, by handler.

    >>> environment({"environment_variables": {"A": "1", "B": "1"},
    ...              "stages": {"dev": {"environment_variables": {"B": "2"}}}}, "dev")
    {'A': '1', 'B': '2'}
    """
    merged: dict[str, str] = {}
    for level in reversed(_levels(config, stage)):
        merged.update({k: str(v) for k, v in level.get("environment_variables", {}).items()})
    return merged

"""Publish a built layer (through S3: it is over the direct-upload size) and record its ARN.

The new ``LayerVersionArn`` goes into ``spam_api/.chalice/config.json`` under
``stages.<stage>.layers``, replacing any version of the same layer (by name) and leaving every
other key, and the file's formatting, as it was.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from vendor_build.runtime import PYTHON_VERSION
from vendor_build.zipper import sha256_file

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_LAYER_NAME",
    "ConfigError",
    "layer_name_of",
    "publish_layer",
    "target_of_build",
    "write_layer_arn",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "spam_api" / ".chalice" / "config.json"
DEFAULT_LAYER_NAME = "spam-sklearn-layer"  # the name the Chalice config refers to
_LAYER_ARN_RE = re.compile(r"^(arn:[^:]+:lambda:[^:]*:[^:]*:layer:[^:]+):(\d+)$")


class ConfigError(ValueError):
    """The Chalice config is missing, malformed, or has no such stage."""


def layer_name_of(arn: str) -> str:
    """The layer name in a layer version ARN: what identifies "the same layer".

    Account and region are ignored on purpose, so a placeholder ARN in the config (or one
    from another account) is replaced rather than left beside the new one.

    >>> layer_name_of("arn:aws:lambda:us-east-1:123456789012:layer:sk:7")
    'sk'
    """
    match = _LAYER_ARN_RE.match(arn)
    if not match:
        raise ValueError(f"not a layer version ARN: {arn!r}")
    return match.group(1).rsplit(":", 1)[1]


def _same_layer(candidate: object, name: str) -> bool:
    return (
        isinstance(candidate, str)
        and bool(_LAYER_ARN_RE.match(candidate))
        and layer_name_of(candidate) == name
    )


def write_layer_arn(config_path: Path, stage: str, arn: str) -> list[str]:
    """Put ``arn`` into ``stages.<stage>.layers`` of a Chalice config. Returns the new list.

    Any version of a layer with the same name is replaced in place; other layers keep their
    order. The file is rewritten as JSON with 2-space indents and a trailing newline (how
    Chalice writes it), so nothing else in it changes.
    """
    config_path = Path(config_path)
    try:
        config = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{config_path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{config_path} is not valid JSON: {exc}") from exc
    stages = config.get("stages")
    if not isinstance(stages, dict) or stage not in stages:
        known = ", ".join(sorted(stages)) if isinstance(stages, dict) else "none"
        raise ConfigError(f"{config_path} has no stage {stage!r} (stages: {known})")
    name = layer_name_of(arn)
    existing = stages[stage].get("layers", [])
    layers = [layer for layer in existing if not _same_layer(layer, name)]
    position = next(
        (index for index, layer in enumerate(existing) if _same_layer(layer, name)),
        len(layers),
    )
    layers.insert(position, arn)
    stages[stage]["layers"] = layers
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, config_path)
    return layers


def target_of_build(zip_path: Path) -> tuple[str, str] | None:
    """(python version, architecture) that the build report beside ``zip_path`` records.

    ``build`` writes its report next to the zip; publishing reads it so a layer is never
    recorded as compatible with a runtime or architecture it was not built for. None when
    there is no report (a zip from elsewhere) or it predates targets.
    """
    from vendor_build.build import REPORT_NAME

    report = Path(zip_path).with_name(REPORT_NAME)
    if not report.is_file():
        return None
    target = json.loads(report.read_text()).get("extra", {}).get("target")
    if not target:
        return None
    return str(target["python_version"]), str(target["architecture"])


def _clients(region: str | None, endpoint_url: str | None) -> tuple[Any, Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    return (
        session.client("s3", endpoint_url=endpoint_url),
        session.client("lambda", endpoint_url=endpoint_url),
    )


def publish_layer(
    zip_path: Path,
    *,
    bucket: str,
    key: str | None = None,
    layer_name: str = DEFAULT_LAYER_NAME,
    stage: str = "dev",
    config_path: Path | None = DEFAULT_CONFIG,
    python_version: str = PYTHON_VERSION,
    architecture: str = "x86_64",
    region: str | None = None,
    endpoint_url: str | None = None,
    s3_client: Any = None,
    lambda_client: Any = None,
) -> str:
    """Upload ``zip_path`` to S3, publish it as a layer version, write its ARN. Returns the ARN.

    ``config_path=None`` publishes without touching any config. ``endpoint_url`` (or the
    clients) point both services at a local emulator such as a moto server.
    """
    zip_path = Path(zip_path)
    digest = sha256_file(zip_path)
    key = key or f"layers/{layer_name}/{digest}.zip"
    if s3_client is None or lambda_client is None:
        default_s3, default_lambda = _clients(region, endpoint_url)
        s3_client = s3_client or default_s3
        lambda_client = lambda_client or default_lambda
    s3_client.upload_file(str(zip_path), bucket, key)
    response = lambda_client.publish_layer_version(
        LayerName=layer_name,
        Description=f"scikit-learn stack for the spam API; zip sha256 {digest}",
        Content={"S3Bucket": bucket, "S3Key": key},
        CompatibleRuntimes=[f"python{python_version}"],
        CompatibleArchitectures=[architecture],
        LicenseInfo="BSD-3-Clause",
    )
    arn = str(response["LayerVersionArn"])
    if config_path is not None:
        write_layer_arn(config_path, stage, arn)
    return arn

"""Writing side of the S3 model registry: publish, list and roll back versions.

The format (keys, manifest fields) lives in ``chalicelib.registry_format`` and is shared
with the API. Publishing uploads a version's objects first and overwrites ``current.json``
last, in one PUT, so a reader sees the old pair or the new pair and never a mix; an
interrupted publish leaves the live model untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.registry_format import (
    LEGACY_MODEL_KEY,
    LEGACY_VECTORIZER_KEY,
    METRICS_NAME,
    MODEL_NAME,
    VECTORIZER_NAME,
    ArtifactNotFoundError,
    ArtifactRef,
    Manifest,
    ManifestError,
    RegistryError,
    RegistryUnavailableError,
    artifact_key,
    current_key,
    manifest_key,
    new_version_id,
    normalize_prefix,
    parse_manifest,
    sha256_hex,
)

__all__ = ["ModelBundle", "VersionInfo", "current_version", "list_versions", "publish", "rollback"]


@dataclass(frozen=True)
class ModelBundle:
    """The serialised artifacts of one trained model, ready to publish."""

    vectorizer_pkl: bytes
    model_pkl: bytes
    metrics: Mapping[str, Any]
    threshold: float
    labels: Mapping[str, Any]
    sklearn_version: str
    metrics_summary: Mapping[str, Any]


@dataclass(frozen=True)
class VersionInfo:
    """One published version, as ``versions`` lists it."""

    manifest: Manifest
    is_current: bool


def _client_error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _get(s3: Any, bucket: str, key: str) -> bytes:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if _client_error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
            raise ArtifactNotFoundError(f"s3://{bucket}/{key} does not exist") from exc
        raise RegistryUnavailableError(f"s3://{bucket}/{key}: {_client_error_code(exc)}") from exc
    except BotoCoreError as exc:
        raise RegistryUnavailableError(f"s3://{bucket}/{key}: {exc}") from exc


def _put(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except (ClientError, BotoCoreError) as exc:
        raise RegistryUnavailableError(f"could not write s3://{bucket}/{key}: {exc}") from exc


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _client_error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
            return False
        raise RegistryUnavailableError(f"s3://{bucket}/{key}: {_client_error_code(exc)}") from exc
    return True


def publish(
    s3: Any,
    bucket: str,
    prefix: str,
    bundle: ModelBundle,
    *,
    now: datetime | None = None,
    legacy_keys: bool = False,
) -> Manifest:
    """Upload a version's artifacts, then point ``current.json`` at it. Returns its manifest.

    Order matters: the immutable objects go first, ``<version>/manifest.json`` next and
    ``current.json`` last, so a crash at any point leaves the live version unchanged.
    """
    created = (now or datetime.now(UTC)).astimezone(UTC)
    metrics_json = (json.dumps(dict(bundle.metrics), sort_keys=True, indent=2) + "\n").encode()
    content_hash = sha256_hex(bundle.vectorizer_pkl + bundle.model_pkl)
    version = new_version_id(created, content_hash)
    if _exists(s3, bucket, manifest_key(prefix, version)):
        raise RegistryError(f"version {version} already exists; versions are immutable")

    bodies = {
        "vectorizer": (VECTORIZER_NAME, bundle.vectorizer_pkl, "application/octet-stream"),
        "model": (MODEL_NAME, bundle.model_pkl, "application/octet-stream"),
        "metrics": (METRICS_NAME, metrics_json, "application/json"),
    }
    refs: dict[str, ArtifactRef] = {}
    for role, (name, body, content_type) in bodies.items():
        key = artifact_key(prefix, version, name)
        _put(s3, bucket, key, body, content_type)
        refs[role] = ArtifactRef(key=key, sha256=sha256_hex(body), size=len(body))

    manifest = Manifest(
        version=version,
        created_at=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        sklearn_version=bundle.sklearn_version,
        threshold=float(bundle.threshold),
        labels=dict(bundle.labels),
        artifacts=refs,
        metrics=dict(bundle.metrics_summary),
    )
    payload = manifest.to_json()
    parse_manifest(payload, where="new manifest")  # never publish what readers would refuse
    _put(s3, bucket, manifest_key(prefix, version), payload, "application/json")
    if legacy_keys:
        # The tutorial's readers take the root pair; written before the switch like the rest.
        _put(s3, bucket, LEGACY_VECTORIZER_KEY, bundle.vectorizer_pkl, "application/octet-stream")
        _put(s3, bucket, LEGACY_MODEL_KEY, bundle.model_pkl, "application/octet-stream")
    _put(s3, bucket, current_key(prefix), payload, "application/json")
    return manifest


def current_version(s3: Any, bucket: str, prefix: str) -> Manifest | None:
    """The live manifest, or ``None`` when nothing has been published under ``prefix``."""
    try:
        return parse_manifest(_get(s3, bucket, current_key(prefix)), where=current_key(prefix))
    except ArtifactNotFoundError:
        return None


def list_versions(s3: Any, bucket: str, prefix: str) -> list[VersionInfo]:
    """Every version under ``prefix`` that has a readable manifest, oldest first."""
    base = normalize_prefix(prefix)
    live = current_version(s3, bucket, prefix)
    versions: list[VersionInfo] = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=base, Delimiter="/"
        )
        names = [
            common["Prefix"][len(base) :].rstrip("/")
            for page in pages
            for common in page.get("CommonPrefixes", [])
        ]
    except (ClientError, BotoCoreError) as exc:
        raise RegistryUnavailableError(f"could not list s3://{bucket}/{base}: {exc}") from exc
    for name in sorted(names):
        try:
            manifest = parse_manifest(
                _get(s3, bucket, manifest_key(prefix, name)), where=manifest_key(prefix, name)
            )
        except (ArtifactNotFoundError, ManifestError, ValueError):
            continue  # an interrupted publish: objects without a manifest are not a version
        versions.append(
            VersionInfo(manifest=manifest, is_current=live is not None and live.version == name)
        )
    return versions


def rollback(s3: Any, bucket: str, prefix: str, version: str) -> Manifest:
    """Point ``current.json`` at an earlier version, after checking its artifacts exist."""
    key = manifest_key(prefix, version)
    manifest = parse_manifest(_get(s3, bucket, key), where=key)
    for ref in manifest.artifacts.values():
        if not _exists(s3, bucket, ref.key):
            raise ArtifactNotFoundError(f"version {version} is incomplete: {ref.key} is missing")
    _put(s3, bucket, current_key(prefix), manifest.to_json(), "application/json")
    return manifest

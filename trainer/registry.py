"""Writing side of the S3 model registry: publish, list, roll back, migrate and promote; and
the live model, loaded as the API loads it (``capture queue`` rescores with it).

The format (keys, manifest fields, read order and write rules) lives in
``chalicelib.registry_format`` and is shared with the API. Publishing uploads a version's
objects first, then its scikit-learn's live pointer, and ``current.json`` last, each in
one PUT, so a reader sees the old version or the new one and never a mix; an interrupted
publish leaves what every reader loads untouched. ``current.json`` only moves to a model
made with the scikit-learn it already names (or when it is missing), and its writes are
conditional on the ETag read, so a concurrent ``promote`` is never silently undone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.registry_format import (
    LEGACY_MODEL_KEY,
    LEGACY_VECTORIZER_KEY,
    LIVE_DIR,
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
    check_sklearn_version,
    current_key,
    live_key,
    live_pointer_version,
    manifest_key,
    new_version_id,
    normalize_prefix,
    parse_manifest,
    sha256_hex,
    verify_artifact,
)
from chalicelib.s3_errors import NOT_FOUND_CODES, PRECONDITION_FAILED_CODES, error_code

__all__ = [
    "LiveModel",
    "ModelBundle",
    "RegistryStatus",
    "VersionInfo",
    "current_version",
    "list_versions",
    "load_live_model",
    "migrate",
    "promote",
    "publish",
    "read_manifest",
    "read_metrics",
    "registry_status",
    "rollback",
]


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
    """One published version, as ``versions`` lists it.

    ``live_for`` names the pointers that name it: ``current.json`` and ``sklearn-<X>``.
    """

    manifest: Manifest
    is_current: bool
    live_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegistryStatus:
    """What each kind of reader loads: ``current.json`` and every live pointer, by version."""

    current: Manifest | None
    live: dict[str, Manifest]

    def for_runtime(self, sklearn_version: str) -> Manifest | None:
        """The manifest a reader with ``sklearn_version`` loads (the API's read order)."""
        if self.current is not None and self.current.sklearn_version == sklearn_version:
            return self.current
        return self.live.get(sklearn_version)


#: A conditional write lost: the key changed, or another conditional write to it is under
#: way (409).
_CHANGED_CODES = PRECONDITION_FAILED_CODES | {"ConditionalRequestConflict"}


def _get(s3: Any, bucket: str, key: str) -> bytes:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            raise ArtifactNotFoundError(f"s3://{bucket}/{key} does not exist") from exc
        raise RegistryUnavailableError(f"s3://{bucket}/{key}: {error_code(exc)}") from exc
    except BotoCoreError as exc:
        raise RegistryUnavailableError(f"s3://{bucket}/{key}: {exc}") from exc


def _put(s3: Any, bucket: str, key: str, body: bytes, content_type: str, **condition: str) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, **condition)
    except ClientError as exc:
        if error_code(exc) in _CHANGED_CODES:
            raise RegistryError(
                f"s3://{bucket}/{key} changed while this command ran (another publish, "
                f"rollback or promote); nothing else was changed: run it again"
            ) from exc
        raise RegistryUnavailableError(f"could not write s3://{bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise RegistryUnavailableError(f"could not write s3://{bucket}/{key}: {exc}") from exc


def _read_current(s3: Any, bucket: str, prefix: str) -> tuple[Manifest | None, str | None]:
    """``current.json`` and its ETag; ``(None, None)`` if missing, ``(None, etag)`` if invalid."""
    key = current_key(prefix)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        body = response["Body"].read()
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None, None
        raise RegistryUnavailableError(f"s3://{bucket}/{key}: {error_code(exc)}") from exc
    except BotoCoreError as exc:
        raise RegistryUnavailableError(f"s3://{bucket}/{key}: {exc}") from exc
    etag = str(response.get("ETag", "")) or None
    try:
        return parse_manifest(body, where=key), etag
    except ManifestError:
        return None, etag  # a broken current.json is replaced, not kept


def _put_current(s3: Any, bucket: str, prefix: str, payload: bytes, seen: str | None) -> None:
    """Overwrite ``current.json`` only if it is still what was read (``seen``, or absent)."""
    condition = {"IfMatch": seen} if seen else {"IfNoneMatch": "*"}
    _put(s3, bucket, current_key(prefix), payload, "application/json", **condition)


def _ensure_live(s3: Any, bucket: str, prefix: str, manifest: Manifest | None) -> str | None:
    """Give the version ``current.json`` names its live pointer if it has none (the migration).

    Returns the key written, or ``None`` when there was nothing to do.
    """
    if manifest is None:
        return None
    key = live_key(prefix, manifest.sklearn_version)
    if _exists(s3, bucket, key):
        return None
    _put(s3, bucket, key, manifest.to_json(), "application/json", IfNoneMatch="*")
    return key


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return False
        raise RegistryUnavailableError(f"s3://{bucket}/{key}: {error_code(exc)}") from exc
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
    _go_live(s3, bucket, prefix, manifest)
    return manifest


def _go_live(s3: Any, bucket: str, prefix: str, manifest: Manifest) -> None:
    """Point ``manifest``'s scikit-learn at it, then ``current.json`` if that names the same.

    The version ``current.json`` names keeps a live pointer of its own first (migrate), so
    a reader of that scikit-learn finds its model whatever ``current.json`` names later.
    """
    current, seen = _read_current(s3, bucket, prefix)
    _ensure_live(s3, bucket, prefix, current)
    payload = manifest.to_json()
    _put(s3, bucket, live_key(prefix, manifest.sklearn_version), payload, "application/json")
    if current is None or current.sklearn_version == manifest.sklearn_version:
        _put_current(s3, bucket, prefix, payload, seen)


def current_version(s3: Any, bucket: str, prefix: str) -> Manifest | None:
    """The live manifest, or ``None`` when nothing has been published under ``prefix``."""
    try:
        return parse_manifest(_get(s3, bucket, current_key(prefix)), where=current_key(prefix))
    except ArtifactNotFoundError:
        return None


def list_versions(s3: Any, bucket: str, prefix: str) -> list[VersionInfo]:
    """Every version under ``prefix`` that has a readable manifest, oldest first."""
    base = normalize_prefix(prefix)
    status = registry_status(s3, bucket, prefix)
    live = status.current
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
        if name == LIVE_DIR:
            continue
        try:
            manifest = read_manifest(s3, bucket, prefix, name)
        except (ArtifactNotFoundError, ManifestError, ValueError):
            continue  # an interrupted publish: objects without a manifest are not a version
        is_current = live is not None and live.version == name
        live_for = (("current.json",) if is_current else ()) + tuple(
            f"sklearn-{sk}" for sk, m in sorted(status.live.items()) if m.version == name
        )
        versions.append(VersionInfo(manifest=manifest, is_current=is_current, live_for=live_for))
    return versions


def rollback(s3: Any, bucket: str, prefix: str, version: str) -> Manifest:
    """Make an earlier version live again, after checking its artifacts exist.

    Like a publish: its scikit-learn's live pointer, and ``current.json`` if that names the
    same scikit-learn (or nothing). A version made with another scikit-learn than the one
    ``current.json`` names goes live only for runtimes with that scikit-learn.
    """
    manifest = _complete_version(s3, bucket, prefix, version)
    _go_live(s3, bucket, prefix, manifest)
    return manifest


def read_manifest(s3: Any, bucket: str, prefix: str, version: str) -> Manifest:
    """A version's own manifest, ``<prefix><version>/manifest.json``."""
    key = manifest_key(prefix, version)
    return parse_manifest(_get(s3, bucket, key), where=key)


def read_metrics(s3: Any, bucket: str, prefix: str, version: str) -> dict[str, Any]:
    """A version's ``metrics.json``: everything measured when it was trained."""
    key = artifact_key(prefix, version, METRICS_NAME)
    try:
        metrics = json.loads(_get(s3, bucket, key))
    except ValueError as exc:
        raise ManifestError.at(key, "not valid JSON", cause=str(exc)[:200]) from exc
    if not isinstance(metrics, dict):
        raise ManifestError.at(key, f"must be a JSON object, got {type(metrics).__name__}")
    return metrics


def _complete_version(s3: Any, bucket: str, prefix: str, version: str) -> Manifest:
    manifest = read_manifest(s3, bucket, prefix, version)
    _check_complete(s3, bucket, manifest)
    return manifest


def _check_complete(s3: Any, bucket: str, manifest: Manifest) -> None:
    for ref in manifest.artifacts.values():
        if not _exists(s3, bucket, ref.key):
            raise ArtifactNotFoundError(
                f"version {manifest.version} is incomplete: {ref.key} is missing"
            )


def live_pointers(s3: Any, bucket: str, prefix: str) -> dict[str, Manifest]:
    """Every valid ``live/sklearn-<X>.json``, by scikit-learn version."""
    base = f"{normalize_prefix(prefix)}{LIVE_DIR}/"
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    except (ClientError, BotoCoreError) as exc:
        raise RegistryUnavailableError(f"could not list s3://{bucket}/{base}: {exc}") from exc
    found: dict[str, Manifest] = {}
    for key in sorted(keys):
        version = live_pointer_version(prefix, key)
        if version is None:
            continue
        try:
            found[version] = parse_manifest(_get(s3, bucket, key), where=key)
        except (ArtifactNotFoundError, ManifestError):
            continue
    return found


def registry_status(s3: Any, bucket: str, prefix: str) -> RegistryStatus:
    """``current.json`` and the live pointers: what a reader of each scikit-learn loads."""
    return RegistryStatus(
        current=current_version(s3, bucket, prefix), live=live_pointers(s3, bucket, prefix)
    )


def migrate(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Bring a registry written before live pointers to this contract. Idempotent.

    Writes ``live/sklearn-<X>.json`` for the version ``current.json`` names when it has
    none; changes nothing readers load. Returns the keys written.
    """
    current, _ = _read_current(s3, bucket, prefix)
    written = _ensure_live(s3, bucket, prefix, current)
    return [written] if written else []


def promote(s3: Any, bucket: str, prefix: str, sklearn_version: str) -> Manifest:
    """Point ``current.json`` at the live model for ``sklearn_version``. Returns it.

    For when every function that reads only ``current.json`` runs ``sklearn_version``:
    after an upgrade has retired the old stack (readers of this contract then need one
    request per check again), or before rolling back to code from before it. The version
    ``current.json`` named keeps its own pointer (migrate).
    """
    key = live_key(prefix, sklearn_version)
    try:
        target = parse_manifest(_get(s3, bucket, key), where=key)
    except ArtifactNotFoundError as exc:
        raise ArtifactNotFoundError(
            f"no live model for scikit-learn {sklearn_version} (s3://{bucket}/{key}): "
            f"publish one with that scikit-learn, or roll back to one of its versions, first"
        ) from exc
    _check_complete(s3, bucket, target)
    current, seen = _read_current(s3, bucket, prefix)
    _ensure_live(s3, bucket, prefix, current)
    _put_current(s3, bucket, prefix, target.to_json(), seen)
    return target


@dataclass(frozen=True)
class LiveModel:
    """The model an API running this scikit-learn serves now, unpickled."""

    manifest: Manifest
    vectorizer: Any
    classifier: Any

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def threshold(self) -> float:
        return self.manifest.threshold

    def spam_probability(self, texts: Sequence[str]):
        """``spam_probability`` as ``/predict`` answers it (the published scale)."""
        column = list(self.classifier.classes_).index(self.manifest.labels["spam"])
        return self.classifier.predict_proba(self.vectorizer.transform(list(texts)))[:, column]


def load_live_model(s3: Any, bucket: str, prefix: str, sklearn_version: str) -> LiveModel:
    """The version an API running ``sklearn_version`` loads (its read order), verified.

    Each pickle's size and sha256 are checked against the manifest before it is unpickled,
    as the API does. ``ArtifactNotFoundError`` when nothing is live for that scikit-learn.
    """
    import joblib

    manifest = registry_status(s3, bucket, prefix).for_runtime(sklearn_version)
    if manifest is None:
        where = f"s3://{bucket}/{normalize_prefix(prefix)}"
        raise ArtifactNotFoundError(
            f"no model is live under {where} for scikit-learn {sklearn_version}: publish one "
            f"first (python -m trainer train --publish)"
        )
    check_sklearn_version(manifest, sklearn_version)
    loaded = {}
    for role in ("vectorizer", "model"):
        ref = manifest.artifacts[role]
        data = verify_artifact(ref, _get(s3, bucket, ref.key))
        loaded[role] = joblib.load(io.BytesIO(data))
    return LiveModel(manifest, loaded["vectorizer"], loaded["model"])

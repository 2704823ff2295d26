"""The S3 model registry format: the one contract between the trainer and the API.

Both sides import this module (the trainer through the editable install that maps
``chalicelib`` to ``spam_api/chalicelib``), so a key name or a field is defined once.
It is pure: bytes and dicts in, bytes and dataclasses out, no I/O and no third-party
imports, because it runs inside Lambda next to a layer that has nothing to spare.

Layout under ``s3://BUCKET/PREFIX``::

    <version>/vectorizer.pkl     immutable, joblib pickle of the fitted vectorizer
    <version>/spam_model.pkl     immutable, joblib pickle of the fitted classifier
    <version>/metrics.json       immutable, the evaluation report
    <version>/manifest.json      immutable, the manifest below (what a rollback points at)
    live/sklearn-<X>.json        the live manifest for runtimes with scikit-learn X, one PUT
    current.json                 the live manifest of the default stack, one PUT; the only
                                 key readers from before the per-version pointers read

Why two kinds of pointer: a pickle only loads under the scikit-learn that wrote it, and the
API refuses any other (``check_sklearn_version``). While a deployment moves from one
scikit-learn to the next, the old and the new function run side by side and each needs a
model it can load; one ``current.json`` cannot name two.

Read order of a runtime with scikit-learn X (``RegistryReader.fetch_pointer``):

1. ``current.json``, with a conditional GET; if it names a model made with X, that is live
   (one request, a 304 when nothing changed: the steady state).
2. Otherwise ``live/sklearn-<X>.json`` (also conditional): the model for X.
3. If neither exists, the tutorial's legacy bucket-root pair. If ``current.json`` names
   another version and X has no pointer, ``current.json`` is returned and refused by the
   version check, with a message that says so.

Write rules (``trainer.registry``): publishing or rolling back a model made with X writes
``live/sklearn-<X>.json`` and then ``current.json`` only if ``current.json`` is missing or
names X, so a model for a new scikit-learn never takes ``current.json`` away from the
functions still running the old one. ``promote X`` points ``current.json`` at X's live model
once nothing that reads only ``current.json`` needs the old one. Before any of these, the
version ``current.json`` names gets its pointer if it has none (``migrate``), so a registry
written before the pointers existed keeps serving every version it served.

Exceptions::

    RegistryError
     ├── ManifestError        current.json / manifest.json is not a valid manifest
     ├── IntegrityError       an artifact's bytes do not match the manifest (size or sha256)
     ├── IncompatibleModelError  made with another scikit-learn version
     ├── ArtifactNotFoundError   a key the registry needs does not exist
     └── RegistryUnavailableError  S3 could not be reached or refused us
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ARTIFACT_NAMES",
    "CURRENT_NAME",
    "LEGACY_LABELS",
    "LEGACY_MODEL_KEY",
    "LEGACY_VECTORIZER_KEY",
    "LIVE_DIR",
    "MANIFEST_NAME",
    "METRICS_NAME",
    "MODEL_NAME",
    "SCHEMA_VERSION",
    "VECTORIZER_NAME",
    "ArtifactNotFoundError",
    "ArtifactRef",
    "IncompatibleModelError",
    "IntegrityError",
    "Manifest",
    "ManifestError",
    "RegistryError",
    "RegistryUnavailableError",
    "artifact_key",
    "check_sklearn_version",
    "current_key",
    "live_key",
    "live_pointer_version",
    "manifest_key",
    "new_version_id",
    "normalize_prefix",
    "parse_manifest",
    "prefixes_apart",
    "sha256_hex",
    "validate_version_id",
    "verify_artifact",
]

SCHEMA_VERSION = 1

CURRENT_NAME = "current.json"
VECTORIZER_NAME = "vectorizer.pkl"
MODEL_NAME = "spam_model.pkl"
METRICS_NAME = "metrics.json"
MANIFEST_NAME = "manifest.json"
#: The folder of per-scikit-learn live pointers; never a version id (those start with a date).
LIVE_DIR = "live"
_LIVE_PREFIX = "sklearn-"
_LIVE_SUFFIX = ".json"
#: The artifacts a manifest lists, by role.
ARTIFACT_NAMES = {"vectorizer": VECTORIZER_NAME, "model": MODEL_NAME, "metrics": METRICS_NAME}

LEGACY_VECTORIZER_KEY = "vectorizer.pkl"
LEGACY_MODEL_KEY = "spam_model.pkl"
#: The tutorial trained on numeric labels where 1 = ham and 0 = spam.
LEGACY_LABELS = {"spam": 0, "ham": 1}

_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class RegistryError(Exception):
    """Base class for everything that can go wrong reading or writing the registry.

    ``str(exc)`` is for the operator and may name buckets and keys; ``public`` says the
    same without them, for the API's clients (defaults to the class's ``PUBLIC``).
    """

    PUBLIC = "the model registry could not be read"

    def __init__(self, message: str, *, public: str | None = None) -> None:
        super().__init__(message)
        self.public = public or self.PUBLIC


class ManifestError(RegistryError):
    """A manifest (``current.json`` or ``<version>/manifest.json``) is malformed."""

    PUBLIC = "the model manifest is invalid"

    @classmethod
    def at(cls, where: str, detail: str, cause: str = "") -> ManifestError:
        """``where: detail (cause)`` for the log; the client sees only ``detail``."""
        suffix = f" ({cause})" if cause else ""
        return cls(f"{where}: {detail}{suffix}", public=f"{cls.PUBLIC}: {detail}")


class IntegrityError(RegistryError):
    """An artifact's bytes differ from what the manifest recorded."""

    PUBLIC = "a model file does not match its manifest"


class IncompatibleModelError(RegistryError):
    """The artifacts were pickled by a scikit-learn version other than the runtime's."""

    PUBLIC = "the model was made with another scikit-learn version than this runtime's"


class ArtifactNotFoundError(RegistryError):
    """A key the registry needs is missing."""

    PUBLIC = "a file the model registry needs does not exist"


class RegistryUnavailableError(RegistryError):
    """S3 could not be reached, timed out, or denied access."""

    PUBLIC = "S3 did not answer"


@dataclass(frozen=True)
class ArtifactRef:
    """Where one artifact lives and what its bytes must hash to."""

    key: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """Everything a reader needs to load and trust one model version.

    ``labels`` maps ``"spam"`` and ``"ham"`` to the class values the classifier was
    fitted on, so the reader finds the spam column of ``predict_proba`` without guessing.
    """

    version: str
    created_at: str
    sklearn_version: str
    threshold: float
    labels: dict[str, Any]
    artifacts: dict[str, ArtifactRef]
    metrics: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        """Serialise deterministically (sorted keys), as written to S3."""
        return (json.dumps(asdict(self), sort_keys=True, indent=2) + "\n").encode("utf-8")

    def summary(self) -> dict[str, Any]:
        """What the API shows about this version (no keys or hashes needed by clients)."""
        return {
            "version": self.version,
            "created_at": self.created_at,
            "sklearn_version": self.sklearn_version,
            "threshold": self.threshold,
            "labels": dict(self.labels),
            "metrics": dict(self.metrics),
        }


def normalize_prefix(prefix: str | None) -> str:
    """Return the prefix with exactly one trailing slash, or ``""`` for the bucket root.

    >>> normalize_prefix("models")
    'models/'
    >>> normalize_prefix("/a/b//")
    'a/b/'
    >>> normalize_prefix("")
    ''
    """
    cleaned = (prefix or "").strip().strip("/")
    return f"{cleaned}/" if cleaned else ""


def prefixes_apart(first: str, second: str) -> bool:
    """Whether no key can lie under both prefixes: neither contains the other.

    The rule that keeps the stores the API may write (feedback, capture) away from the
    pickles it loads, and from each other. Both are normalized prefixes
    (:func:`normalize_prefix`); the bucket root ``""`` contains every prefix.

    >>> prefixes_apart("feedback/", "models/"), prefixes_apart("models/feedback/", "models/")
    (True, False)
    >>> prefixes_apart("capture/", "capture/pending/"), prefixes_apart("", "models/")
    (False, False)
    """
    return not (first.startswith(second) or second.startswith(first))


def validate_version_id(version: str) -> str:
    """Return ``version`` if it is a safe single path segment, else raise ``ValueError``.

    >>> validate_version_id("20261125T120000Z-1a2b3c")
    '20261125T120000Z-1a2b3c'
    >>> validate_version_id("../x")
    Traceback (most recent call last):
    ...
    ValueError: version must match [0-9A-Za-z][0-9A-Za-z._-]{0,127}, got '../x'
    """
    if not isinstance(version, str) or not _VERSION_RE.match(version) or ".." in version:
        raise ValueError(f"version must match {_VERSION_RE.pattern[1:-1]}, got {version!r}")
    return version


def artifact_key(prefix: str, version: str, name: str) -> str:
    """Key of one artifact of one version.

    >>> artifact_key("models/", "v1", MODEL_NAME)
    'models/v1/spam_model.pkl'
    """
    return f"{normalize_prefix(prefix)}{validate_version_id(version)}/{name}"


def manifest_key(prefix: str, version: str) -> str:
    """Key of a version's own immutable copy of its manifest."""
    return artifact_key(prefix, version, MANIFEST_NAME)


def current_key(prefix: str) -> str:
    """Key of the default live pointer (the one readers before ``live/`` read).

    >>> current_key("models")
    'models/current.json'
    """
    return f"{normalize_prefix(prefix)}{CURRENT_NAME}"


def live_key(prefix: str, sklearn_version: str) -> str:
    """Key of the live pointer for runtimes with scikit-learn ``sklearn_version``.

    >>> live_key("models", "1.9.1")
    'models/live/sklearn-1.9.1.json'
    >>> live_key("models", "../1")
    Traceback (most recent call last):
    ...
    ValueError: version must match [0-9A-Za-z][0-9A-Za-z._-]{0,127}, got '../1'
    """
    version = validate_version_id(sklearn_version)
    return f"{normalize_prefix(prefix)}{LIVE_DIR}/{_LIVE_PREFIX}{version}{_LIVE_SUFFIX}"


def live_pointer_version(prefix: str, key: str) -> str | None:
    """The scikit-learn version a live pointer key is for, or ``None`` for any other key.

    >>> live_pointer_version("models/", "models/live/sklearn-1.7.2.json")
    '1.7.2'
    >>> live_pointer_version("models/", "models/current.json") is None
    True
    """
    head = f"{normalize_prefix(prefix)}{LIVE_DIR}/{_LIVE_PREFIX}"
    if not (key.startswith(head) and key.endswith(_LIVE_SUFFIX)):
        return None
    version = key[len(head) : -len(_LIVE_SUFFIX)]
    try:
        return validate_version_id(version)
    except ValueError:
        return None


def new_version_id(now: datetime, content_sha256: str) -> str:
    """A version id that sorts by time and differs for different content.

    >>> new_version_id(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "ab" * 32)
    '20261125T120000Z-ababab'
    """
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{content_sha256[:6]}"


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``.

    >>> sha256_hex(b"")[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


def verify_artifact(ref: ArtifactRef, data: bytes) -> bytes:
    """Return ``data`` if its size and sha256 match ``ref``; raise ``IntegrityError`` if not.

    Called before anything is unpickled: a pickle is code, so only bytes the trainer
    recorded may reach ``joblib.load``.

    >>> ref = ArtifactRef(key="k", sha256=sha256_hex(b"abc"), size=3)
    >>> verify_artifact(ref, b"abc")
    b'abc'
    >>> verify_artifact(ref, b"abd")
    Traceback (most recent call last):
    ...
    chalicelib.registry_format.IntegrityError: k: sha256 ... does not match the manifest ...
    """
    if len(data) != ref.size:
        detail = f"{len(data)} bytes, but the manifest records {ref.size}"
        raise IntegrityError(f"{ref.key}: {detail}", public=f"a model file is {detail}")
    digest = sha256_hex(data)
    if digest != ref.sha256:
        detail = f"sha256 {digest[:12]}... does not match the manifest ({ref.sha256[:12]}...)"
        raise IntegrityError(f"{ref.key}: {detail}", public=f"a model file's {detail}")
    return data


def check_sklearn_version(manifest: Manifest, runtime_version: str) -> None:
    """Refuse a model pickled by another scikit-learn: it may unpickle and then fail.

    >>> check_sklearn_version(_example_manifest(), "1.7.2")
    >>> check_sklearn_version(_example_manifest(), "1.9.1")
    Traceback (most recent call last):
    ...
    chalicelib.registry_format.IncompatibleModelError: model v1 was made with scikit-learn 1.7.2
    but this runtime has 1.9.1; retrain with 1.9.1 or deploy a layer with 1.7.2
    """
    if manifest.sklearn_version != runtime_version:
        message = (
            f"model {manifest.version} was made with scikit-learn {manifest.sklearn_version} "
            f"but this runtime has {runtime_version}; retrain with {runtime_version} "
            f"or deploy a layer with {manifest.sklearn_version}"
        )
        raise IncompatibleModelError(message, public=message)


def _require(
    obj: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str, path: str = ""
) -> Any:
    if name not in obj:
        raise ManifestError.at(where, f"missing field {path + name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (
        kind in (int, float, (int, float)) and isinstance(value, bool)
    ):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise ManifestError.at(
            where, f"field {path + name!r} must be {expected}, got {type(value).__name__}"
        )
    return value


class _NotJsonConstant(ValueError):
    """NaN or Infinity: Python's json reads them; JSON has neither, and clients choke on them."""


def _not_json(constant: str) -> Any:
    raise _NotJsonConstant(f"{constant} is not a JSON number")


def parse_manifest(data: bytes, where: str = CURRENT_NAME) -> Manifest:
    """Parse and validate manifest bytes; raise ``ManifestError`` naming what is wrong.

    >>> parse_manifest(_example_manifest().to_json()).version
    'v1'
    >>> parse_manifest(b"{not json")
    Traceback (most recent call last):
    ...
    chalicelib.registry_format.ManifestError: current.json: not valid JSON (Expecting ...)
    """
    try:
        obj = json.loads(data, parse_constant=_not_json)
    except _NotJsonConstant as exc:
        raise ManifestError.at(where, f"not valid JSON ({exc})") from exc
    except (ValueError, RecursionError) as exc:  # also too many digits, too deeply nested
        raise ManifestError.at(where, "not valid JSON", cause=str(exc)[:200]) from exc
    if not isinstance(obj, dict):
        raise ManifestError.at(where, f"must be a JSON object, got {type(obj).__name__}")
    schema = _require(obj, "schema_version", int, where)
    if schema != SCHEMA_VERSION:
        raise ManifestError.at(
            where, f"schema_version {schema} is not supported (this code reads {SCHEMA_VERSION})"
        )
    version = _require(obj, "version", str, where)
    try:
        validate_version_id(version)
    except ValueError as exc:
        raise ManifestError.at(where, str(exc)) from exc
    raw_threshold = _require(obj, "threshold", (int, float), where)
    try:
        threshold = float(raw_threshold)
    except OverflowError:  # an integer too large for a float
        threshold = math.inf
    if not 0.0 < threshold < 1.0:
        raise ManifestError.at(where, f"threshold must be between 0 and 1, got {threshold}")
    labels = _require(obj, "labels", dict, where)
    if set(labels) != {"spam", "ham"} or labels["spam"] == labels["ham"]:
        raise ManifestError.at(where, "labels must map 'spam' and 'ham' to two distinct classes")
    raw_artifacts = _require(obj, "artifacts", dict, where)
    artifacts: dict[str, ArtifactRef] = {}
    for role in ARTIFACT_NAMES:
        entry = raw_artifacts.get(role)
        if not isinstance(entry, dict):
            raise ManifestError.at(where, f"artifacts.{role} is missing or not an object")
        path = f"artifacts.{role}."
        key = _require(entry, "key", str, where, path)
        sha = _require(entry, "sha256", str, where, path)
        size = _require(entry, "size", int, where, path)
        if not _SHA256_RE.match(sha):
            raise ManifestError.at(where, f"{path}sha256 is not 64 lowercase hex digits")
        if size < 0:
            raise ManifestError.at(where, f"{path}size must not be negative")
        artifacts[role] = ArtifactRef(key=key, sha256=sha, size=size)
    metrics = obj.get("metrics", {})
    if not isinstance(metrics, dict):
        raise ManifestError.at(where, "metrics must be an object")
    return Manifest(
        version=version,
        created_at=_require(obj, "created_at", str, where),
        sklearn_version=_require(obj, "sklearn_version", str, where),
        threshold=threshold,
        labels=dict(labels),
        artifacts=artifacts,
        metrics=metrics,
        schema_version=schema,
    )


def _example_manifest() -> Manifest:
    """A small valid manifest for the doctests above."""
    refs = {
        role: ArtifactRef(key=f"models/v1/{name}", sha256="0" * 64, size=1)
        for role, name in ARTIFACT_NAMES.items()
    }
    return Manifest(
        version="v1",
        created_at="2026-11-25T12:00:00Z",
        sklearn_version="1.7.2",
        threshold=0.5,
        labels={"spam": 1, "ham": 0},
        artifacts=refs,
    )

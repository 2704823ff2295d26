"""Reading side of the S3 model registry: which version is live, and its verified artifacts.

Which manifest is live depends on the runtime's scikit-learn (read order in
``chalicelib.registry_format``): ``current.json`` when it names a model made with the
runtime's version, else the runtime's own ``live/sklearn-<X>.json``.

``RegistryReader`` takes a botocore/boto3 S3 client (tests pass a moto client or a stub) and only
ever reads ``s3://bucket/prefix...`` plus, for the tutorial's legacy layout, the two
bucket-root pickles. Botocore errors become ``registry_format`` exceptions here, with
messages written for people (no botocore text, no endpoint URLs); nothing is unpickled
before its size and sha256 matched the manifest.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from datetime import UTC
from enum import Enum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.registry_format import (
    LEGACY_LABELS,
    LEGACY_MODEL_KEY,
    LEGACY_VECTORIZER_KEY,
    ArtifactNotFoundError,
    ArtifactRef,
    IncompatibleModelError,
    Manifest,
    ManifestError,
    RegistryUnavailableError,
    check_sklearn_version,
    current_key,
    live_key,
    normalize_prefix,
    parse_manifest,
    verify_artifact,
)
from chalicelib.s3_errors import (
    ACCESS_DENIED_CODES,
    NO_SUCH_BUCKET,
    NOT_FOUND_CODES,
    NOT_MODIFIED_CODES,
    error_code,
)
from chalicelib.settings import APP_NAME

__all__ = [
    "LEGACY_THRESHOLD",
    "LEGACY_VERSION",
    "Artifacts",
    "Pointer",
    "PointerRead",
    "PointerTag",
    "RegistryReader",
]

LEGACY_VERSION = "legacy"
LEGACY_THRESHOLD = 0.5
_log = logging.getLogger(f"{APP_NAME}.registry")


class PointerRead(Enum):
    """How far down the read order (``chalicelib.registry_format``) a check went."""

    CURRENT = "current.json"  # it names this runtime's scikit-learn: the check stops there
    LIVE = "live pointer"  # current.json is absent or names another: live/sklearn-<X>.json too
    LEGACY = "legacy pair"  # neither exists: the tutorial's two bucket-root pickles


@dataclass(frozen=True)
class PointerTag:
    """What a check read and the ETags it got: give it back to ask "changed since?".

    Each object the check read is read again with ``If-None-Match`` set to its ETag, so an
    unchanged registry costs one 304 per object. ``None`` means the object did not exist.
    """

    read: PointerRead
    current_etag: str | None = None  # current.json's (its version if S3 sent no ETag)
    live_etag: str | None = None  # the runtime's live pointer's, when ``read`` is LIVE
    legacy_etags: tuple[str, str] | None = None  # vectorizer.pkl's and spam_model.pkl's


@dataclass(frozen=True)
class Pointer:
    """What the registry says is live: a manifest, the object it came from, and its tag.

    ``key`` is the object the manifest was read from (empty for the legacy pair); ``tag``
    goes back to ``RegistryReader.fetch_pointer`` to ask whether it changed.
    """

    manifest: Manifest
    tag: PointerTag
    key: str = ""

    @property
    def legacy(self) -> bool:
        """Whether this is the tutorial's bucket-root pair, which has no manifest of its own."""
        return self.tag.read is PointerRead.LEGACY


@dataclass(frozen=True)
class Artifacts:
    """The unpickled vectorizer and classifier of one pointer."""

    pointer: Pointer
    vectorizer: Any
    classifier: Any


class _AccessDenied(RegistryUnavailableError):
    """S3 answered 403: the key is forbidden, or missing and we may not list the bucket."""


def _via_live(current_etag: str | None, live_etag: str | None) -> PointerTag:
    """The tag of a check that went on to the live pointer."""
    return PointerTag(PointerRead.LIVE, current_etag=current_etag, live_etag=live_etag)


@dataclass(frozen=True)
class _Live:
    """A live pointer as read: its manifest and ETag."""

    manifest: Manifest
    etag: str
    key: str


_UNCHANGED = object()  # a conditional GET answered 304


class RegistryReader:
    """Reads one registry: ``s3://bucket/prefix``.

    Parameters
    ----------
    s3 : a botocore/boto3 S3 client (or anything with ``get_object`` and ``head_object``).
    bucket, prefix : where the registry lives; nothing else is ever read, except the
        tutorial's two bucket-root pickles when there is no ``current.json``.
    runtime_sklearn_version : the scikit-learn this process runs; models made with another
        are refused. Defaults to the installed one.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        *,
        runtime_sklearn_version: str | None = None,
    ) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.prefix = normalize_prefix(prefix)
        self._runtime_sklearn = runtime_sklearn_version

    @property
    def runtime_sklearn_version(self) -> str:
        if self._runtime_sklearn is None:
            import sklearn

            self._runtime_sklearn = str(sklearn.__version__)
        return self._runtime_sklearn

    # -- S3 calls, each translating botocore errors ------------------------------------

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _get(self, key: str, if_none_match: str | None = None) -> tuple[bytes, str] | None:
        """(body, etag) of ``key``, or ``None`` when ``if_none_match`` still matches."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_none_match:
            kwargs["IfNoneMatch"] = if_none_match
        try:
            response = self._s3.get_object(**kwargs)
            body = response["Body"].read()
        except ClientError as exc:
            code = error_code(exc)
            if code in NOT_MODIFIED_CODES:
                return None
            raise self._client_error(key, code) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._no_answer(key, exc) from exc
        return body, str(response.get("ETag", ""))

    def _head(self, key: str) -> dict[str, Any]:
        try:
            return self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise self._client_error(key, error_code(exc)) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._no_answer(key, exc) from exc

    def _no_answer(self, key: str, exc: BaseException) -> RegistryUnavailableError:
        return RegistryUnavailableError(
            f"could not read {self._where(key)}: S3 did not answer ({type(exc).__name__}: {exc})",
            public="S3 did not answer",
        )

    def _client_error(self, key: str, code: str) -> Exception:
        if code in ACCESS_DENIED_CODES:
            return _AccessDenied(
                f"could not read {self._where(key)}: S3 answered {code}",
                public=f"S3 refused to let the API read the model registry ({code})",
            )
        if code == NO_SUCH_BUCKET:
            return ArtifactNotFoundError(
                f"bucket {self.bucket} does not exist",
                public="the model registry's bucket does not exist",
            )
        if code in NOT_FOUND_CODES:
            return ArtifactNotFoundError(f"{self._where(key)} does not exist")
        return RegistryUnavailableError(
            f"could not read {self._where(key)}: S3 answered {code}",
            public=f"S3 answered {code} when the API read the model registry",
        )

    # -- what is live --------------------------------------------------------------------

    def fetch_pointer(self, since: PointerTag | None = None) -> Pointer | None:
        """The live pointer for this runtime, or ``None`` if nothing changed ``since``.

        Reads ``current.json`` with a conditional GET (a 304 costs nothing); when it names
        a model made with another scikit-learn, reads ``live/sklearn-<runtime>.json`` too
        (also conditional) and returns that if it exists. With neither, falls back to the
        legacy bucket-root pair. Raises ``ArtifactNotFoundError`` when nothing exists,
        ``ManifestError`` for a bad manifest (including artifact keys outside the prefix)
        and ``RegistryUnavailableError`` when S3 cannot be read.
        """
        key = current_key(self.prefix)
        try:
            got = self._get(key, since.current_etag if since else None)
        except ArtifactNotFoundError:
            return self._live_or_legacy(since)
        except _AccessDenied as exc:
            # Without s3:ListBucket (the policies do not grant it) S3 answers 403, not 404,
            # for a key that does not exist: it may be a bucket in the legacy layout.
            try:
                pointer = self._live_or_legacy(since)
            except (ArtifactNotFoundError, RegistryUnavailableError):
                raise RegistryUnavailableError(
                    f"S3 denied access to {self._where(key)}; it does not exist or the "
                    f"function's policy does not allow s3:GetObject on it",
                    public="S3 refused to let the API read the live model's manifest",
                ) from exc
            if pointer is not None and pointer.legacy:
                _log.warning("%s: access denied, serving the legacy layout", self._where(key))
            return pointer
        if got is None:  # current.json unchanged (a 304 needs ``since``)
            assert since is not None
            if since.read is not PointerRead.LIVE:
                return None  # it names this runtime's version (or a refused one): as before
            live = self._fetch_live(since.live_etag)
            if live is _UNCHANGED or (live is None and since.live_etag is None):
                return None
            if live is None:  # the pointer went away: read everything afresh
                return self.fetch_pointer()
            assert isinstance(live, _Live)
            return Pointer(live.manifest, _via_live(since.current_etag, live.etag), key=live.key)
        body, etag = got
        manifest = parse_manifest(body, where=key)
        self._check_keys(manifest, key)
        etag = etag or manifest.version
        if manifest.sklearn_version == self.runtime_sklearn_version:
            return Pointer(manifest, PointerTag(PointerRead.CURRENT, current_etag=etag), key=key)
        live = self._fetch_live(None)
        if isinstance(live, _Live):
            return Pointer(live.manifest, _via_live(etag, live.etag), key=live.key)
        # No model for this runtime: current.json's, which load() refuses, saying why; the
        # tag says the pointer was missing, so the next check looks for it again.
        return Pointer(manifest, _via_live(etag, None), key=key)

    def _fetch_live(self, if_none_match: str | None) -> _Live | object | None:
        """This runtime's live pointer: ``_Live``, ``_UNCHANGED`` on a 304, ``None`` if absent.

        A 403 counts as absent: without s3:ListBucket that is how S3 says "no such key".
        """
        try:
            key = live_key(self.prefix, self.runtime_sklearn_version)
        except ValueError:  # a version that cannot be a key segment has no pointer
            return None
        try:
            got = self._get(key, if_none_match)
        except (ArtifactNotFoundError, _AccessDenied):
            return None
        if got is None:
            return _UNCHANGED
        body, etag = got
        manifest = parse_manifest(body, where=key)
        self._check_keys(manifest, key)
        return _Live(manifest=manifest, etag=etag or manifest.version, key=key)

    def _live_or_legacy(self, since: PointerTag | None) -> Pointer | None:
        """No ``current.json``: this runtime's live pointer, else the legacy pair."""
        live = self._fetch_live(since.live_etag if since else None)
        if live is _UNCHANGED:
            return None
        if isinstance(live, _Live):
            return Pointer(live.manifest, _via_live(None, live.etag), key=live.key)
        return self._legacy_pointer(since)

    def _check_keys(self, manifest: Manifest, where: str) -> None:
        for role, ref in manifest.artifacts.items():
            parts = ref.key.split("/")
            if (
                not ref.key.startswith(self.prefix)
                or ref.key.startswith("/")
                or any(part in {"", ".", ".."} for part in parts)
            ):
                raise ManifestError(
                    f"{where}: artifacts.{role}.key {ref.key!r} is outside the registry prefix "
                    f"{self.prefix!r}; refusing to read it",
                    public=f"the model manifest names a {role} file outside the registry "
                    f"prefix; refusing to read it",
                )

    def _legacy_pointer(self, since: PointerTag | None) -> Pointer | None:
        try:
            heads = {
                "vectorizer": self._head(LEGACY_VECTORIZER_KEY),
                "model": self._head(LEGACY_MODEL_KEY),
            }
        except ArtifactNotFoundError as exc:
            raise ArtifactNotFoundError(
                f"no model in s3://{self.bucket}/: neither {current_key(self.prefix)}, "
                f"{self.prefix}live/sklearn-{self.runtime_sklearn_version}.json nor the "
                f"legacy {LEGACY_MODEL_KEY} and {LEGACY_VECTORIZER_KEY} exist",
                public="no model has been published yet: neither a live manifest nor the "
                "tutorial's bucket-root model exists",
            ) from exc
        tag = PointerTag(
            PointerRead.LEGACY,
            legacy_etags=(
                str(heads["vectorizer"].get("ETag", "")),
                str(heads["model"].get("ETag", "")),
            ),
        )
        if since == tag:
            return None
        modified = heads["model"].get("LastModified")
        created = (
            modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if hasattr(modified, "astimezone")
            else ""
        )
        refs = {
            role: ArtifactRef(key=key, sha256="", size=int(heads[role].get("ContentLength", 0)))
            for role, key in (("vectorizer", LEGACY_VECTORIZER_KEY), ("model", LEGACY_MODEL_KEY))
        }
        manifest = Manifest(
            version=LEGACY_VERSION,
            created_at=created,
            sklearn_version="unknown",
            threshold=LEGACY_THRESHOLD,
            labels=dict(LEGACY_LABELS),
            artifacts=refs,
            metrics={},
        )
        return Pointer(manifest, tag)

    # -- the artifacts ---------------------------------------------------------------------

    def load(self, pointer: Pointer) -> Artifacts:
        """Download, verify and unpickle a pointer's vectorizer and classifier.

        Registry versions: the scikit-learn version is checked first, then each
        artifact's size and sha256, and only then is anything unpickled. Legacy pickles
        have no recorded hash (they are trusted as the bucket root's owner wrote them),
        but any ``InconsistentVersionWarning`` while unpickling refuses them too.
        """
        manifest = pointer.manifest
        if not pointer.legacy:
            check_sklearn_version(manifest, self.runtime_sklearn_version)
            self._check_keys(manifest, pointer.key or current_key(self.prefix))
        verified: dict[str, bytes] = {}
        for role in ("vectorizer", "model"):  # every byte checked before anything is unpickled
            ref = manifest.artifacts[role]
            got = self._get(ref.key)
            if got is None:  # pragma: no cover - no If-None-Match sent
                raise RegistryUnavailableError(f"{self._where(ref.key)}: unexpected 304")
            verified[role] = got[0] if pointer.legacy else verify_artifact(ref, got[0])
        loaded = {
            role: self._unpickle(data, manifest, manifest.artifacts[role].key)
            for role, data in verified.items()
        }
        return Artifacts(
            pointer=pointer, vectorizer=loaded["vectorizer"], classifier=loaded["model"]
        )

    def _unpickle(self, data: bytes, manifest: Manifest, key: str) -> Any:
        import joblib
        from sklearn.exceptions import InconsistentVersionWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InconsistentVersionWarning)
            obj = joblib.load(io.BytesIO(data))
        for warning in caught:
            if issubclass(warning.category, InconsistentVersionWarning):
                pickled = getattr(warning.message, "original_sklearn_version", "another version")
                detail = (
                    f"was pickled by scikit-learn {pickled} but this runtime has "
                    f"{self.runtime_sklearn_version}; retrain with {self.runtime_sklearn_version}"
                )
                raise IncompatibleModelError(
                    f"model {manifest.version}: {key} {detail}",
                    public=f"model {manifest.version} {detail}",
                )
        return obj

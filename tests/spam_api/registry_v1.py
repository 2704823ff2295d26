"""FROZEN: ``chalicelib/registry.py`` as released before the live pointers (commit b7a1b34).

The API that is deployed today, kept verbatim below this paragraph (but for the blank line
ruff wants between import groups in tests) so the upgrade tests
run the old function's real reader: it reads only ``current.json``. Do not update it.

Reading side of the S3 model registry: which version is live, and its verified artifacts.

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
    normalize_prefix,
    parse_manifest,
    verify_artifact,
)
from chalicelib.settings import APP_NAME

__all__ = [
    "LEGACY_THRESHOLD",
    "LEGACY_VERSION",
    "Artifacts",
    "Pointer",
    "RegistryReader",
]

LEGACY_VERSION = "legacy"
LEGACY_THRESHOLD = 0.5
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
_NOT_MODIFIED_CODES = {"304", "NotModified"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden"}
_log = logging.getLogger(f"{APP_NAME}.registry")


@dataclass(frozen=True)
class Pointer:
    """What the registry says is live: a manifest and the tag that identifies its bytes.

    ``etag`` is ``current.json``'s ETag, or for the legacy layout a tag built from the two
    root objects' ETags; pass it back to ``RegistryReader.fetch_pointer`` to ask "changed?".
    """

    manifest: Manifest
    etag: str
    legacy: bool = False


@dataclass(frozen=True)
class Artifacts:
    """The unpickled vectorizer and classifier of one pointer."""

    pointer: Pointer
    vectorizer: Any
    classifier: Any


class _AccessDenied(RegistryUnavailableError):
    """S3 answered 403: the key is forbidden, or missing and we may not list the bucket."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


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
            code = _code(exc)
            if code in _NOT_MODIFIED_CODES:
                return None
            raise self._client_error(key, code) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._no_answer(key, exc) from exc
        return body, str(response.get("ETag", ""))

    def _head(self, key: str) -> dict[str, Any]:
        try:
            return self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise self._client_error(key, _code(exc)) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._no_answer(key, exc) from exc

    def _no_answer(self, key: str, exc: BaseException) -> RegistryUnavailableError:
        return RegistryUnavailableError(
            f"could not read {self._where(key)}: S3 did not answer ({type(exc).__name__}: {exc})",
            public="S3 did not answer",
        )

    def _client_error(self, key: str, code: str) -> Exception:
        if code in _DENIED_CODES:
            return _AccessDenied(
                f"could not read {self._where(key)}: S3 answered {code}",
                public=f"S3 refused to let the API read the model registry ({code})",
            )
        if code == "NoSuchBucket":
            return ArtifactNotFoundError(
                f"bucket {self.bucket} does not exist",
                public="the model registry's bucket does not exist",
            )
        if code in _NOT_FOUND_CODES:
            return ArtifactNotFoundError(f"{self._where(key)} does not exist")
        return RegistryUnavailableError(
            f"could not read {self._where(key)}: S3 answered {code}",
            public=f"S3 answered {code} when the API read the model registry",
        )

    # -- what is live --------------------------------------------------------------------

    def fetch_pointer(self, if_none_match: str | None = None) -> Pointer | None:
        """The live pointer, or ``None`` if it is still ``if_none_match``.

        Reads ``current.json`` with a conditional GET (a 304 costs nothing). Without a
        ``current.json``, falls back to the legacy bucket-root pair. Raises
        ``ArtifactNotFoundError`` when neither exists, ``ManifestError`` for a bad
        manifest (including artifact keys outside the prefix) and
        ``RegistryUnavailableError`` when S3 cannot be read.
        """
        key = current_key(self.prefix)
        try:
            got = self._get(key, if_none_match)
        except ArtifactNotFoundError:
            return self._legacy_pointer(if_none_match)
        except _AccessDenied as exc:
            # Without s3:ListBucket (the policies do not grant it) S3 answers 403, not 404,
            # for a key that does not exist: it may be a bucket in the legacy layout.
            try:
                pointer = self._legacy_pointer(if_none_match)
            except (ArtifactNotFoundError, RegistryUnavailableError):
                raise RegistryUnavailableError(
                    f"S3 denied access to {self._where(key)}; it does not exist or the "
                    f"function's policy does not allow s3:GetObject on it",
                    public="S3 refused to let the API read the live model's manifest",
                ) from exc
            _log.warning("%s: access denied, serving the legacy layout", self._where(key))
            return pointer
        if got is None:
            return None
        body, etag = got
        manifest = parse_manifest(body, where=key)
        self._check_keys(manifest, key)
        return Pointer(manifest=manifest, etag=etag or manifest.version)

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

    def _legacy_pointer(self, if_none_match: str | None) -> Pointer | None:
        try:
            heads = {
                "vectorizer": self._head(LEGACY_VECTORIZER_KEY),
                "model": self._head(LEGACY_MODEL_KEY),
            }
        except ArtifactNotFoundError as exc:
            raise ArtifactNotFoundError(
                f"no model in s3://{self.bucket}/: neither {current_key(self.prefix)} nor the "
                f"legacy {LEGACY_MODEL_KEY} and {LEGACY_VECTORIZER_KEY} exist",
                public="no model has been published yet: neither a live manifest nor the "
                "tutorial's bucket-root model exists",
            ) from exc
        etag = "legacy:" + ":".join(str(h.get("ETag", "")).strip('"') for h in heads.values())
        if if_none_match == etag:
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
        return Pointer(manifest=manifest, etag=etag, legacy=True)

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
            self._check_keys(manifest, current_key(self.prefix))
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

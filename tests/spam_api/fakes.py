"""An in-memory stand-in for the few S3 calls the registry uses (cf. httpx's MockTransport).

Conditional requests are answered as S3 answers them (``test_fake_s3.py`` runs the same
requests against moto over HTTP): a GET or HEAD whose ``IfNoneMatch`` is the object's ETag
is a 304 and a failed ``IfMatch`` a 412; a PUT with ``IfNoneMatch="*"`` over an existing
object, or with an ``IfMatch`` that is not the object's ETag, is a 412 and writes nothing.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError


def _error(code: str, operation: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


def _precondition_failed(operation: str) -> ClientError:
    """S3's 412; a HEAD answer has no body, so its code is the bare status."""
    return _error("412" if operation == "HeadObject" else "PreconditionFailed", operation, 412)


class FakeS3:
    """get/head/put_object over a dict, with S3's conditions, and switches for outages and 403s.

    ``deny_missing``: answer 403 for missing keys, as S3 does without s3:ListBucket.
    """

    def __init__(self, *, deny_missing: bool = False) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, datetime]] = {}
        self.buckets: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.down = False
        self.deny_missing = deny_missing

    def create_bucket(self, Bucket: str, **_: Any) -> None:
        self.buckets.add(Bucket)

    def _check(self, operation: str, bucket: str, key: str) -> tuple[bytes, datetime]:
        self.calls.append((operation, key))
        if self.down:
            raise EndpointConnectionError(endpoint_url="http://fake-s3")
        if bucket not in self.buckets:
            raise _error("NoSuchBucket", operation, 404)
        if (bucket, key) not in self.objects:
            if self.deny_missing:
                raise _error("AccessDenied" if operation == "GetObject" else "403", operation, 403)
            raise _error("NoSuchKey" if operation == "GetObject" else "404", operation, 404)
        return self.objects[(bucket, key)]

    @staticmethod
    def _etag(body: bytes) -> str:
        return '"' + hashlib.md5(body).hexdigest() + '"'

    def _read(
        self, operation: str, bucket: str, key: str, if_match: str | None, if_none_match: str | None
    ) -> tuple[bytes, datetime, str]:
        body, modified = self._check(operation, bucket, key)
        etag = self._etag(body)
        if if_match is not None and if_match != etag:
            raise _precondition_failed(operation)
        if if_none_match is not None and if_none_match == etag:
            raise _error("304", operation, 304)
        return body, modified, etag

    def put_object(
        self,
        Bucket: str,
        Key: str,
        Body: bytes,
        IfMatch: str | None = None,
        IfNoneMatch: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        if self.down:
            raise EndpointConnectionError(endpoint_url="http://fake-s3")
        if IfNoneMatch not in (None, "*"):
            raise _error("NotImplemented", "PutObject", 501)  # S3 takes only "*" on a PUT
        existing = self.objects.get((Bucket, Key))
        if IfNoneMatch == "*" and existing is not None:
            raise _precondition_failed("PutObject")
        if IfMatch is not None:
            if existing is None:
                raise _error("NoSuchKey", "PutObject", 404)
            if IfMatch != self._etag(existing[0]):
                raise _precondition_failed("PutObject")
        self.objects[(Bucket, Key)] = (bytes(Body), datetime.now(UTC))
        return {"ETag": self._etag(Body)}

    def delete_object(self, Bucket: str, Key: str, **_: Any) -> None:
        self.objects.pop((Bucket, Key), None)

    def get_object(
        self, Bucket: str, Key: str, IfMatch: str | None = None, IfNoneMatch: str | None = None
    ) -> dict[str, Any]:
        body, modified, etag = self._read("GetObject", Bucket, Key, IfMatch, IfNoneMatch)
        return {
            "Body": io.BytesIO(body),
            "ETag": etag,
            "ContentLength": len(body),
            "LastModified": modified,
        }

    def head_object(
        self, Bucket: str, Key: str, IfMatch: str | None = None, IfNoneMatch: str | None = None
    ) -> dict[str, Any]:
        body, modified, etag = self._read("HeadObject", Bucket, Key, IfMatch, IfNoneMatch)
        return {"ETag": etag, "ContentLength": len(body), "LastModified": modified}

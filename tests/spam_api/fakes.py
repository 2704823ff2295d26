"""An in-memory stand-in for the few S3 calls the registry uses (cf. httpx's MockTransport)."""

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


class FakeS3:
    """get/head/put_object over a dict, with 304s, and switches for outages and 403s.

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

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        if self.down:
            raise EndpointConnectionError(endpoint_url="http://fake-s3")
        self.objects[(Bucket, Key)] = (bytes(Body), datetime.now(UTC))
        return {"ETag": self._etag(Body)}

    def delete_object(self, Bucket: str, Key: str, **_: Any) -> None:
        self.objects.pop((Bucket, Key), None)

    def get_object(self, Bucket: str, Key: str, IfNoneMatch: str | None = None) -> dict[str, Any]:
        body, modified = self._check("GetObject", Bucket, Key)
        etag = self._etag(body)
        if IfNoneMatch is not None and IfNoneMatch == etag:
            raise _error("304", "GetObject", 304)
        return {
            "Body": io.BytesIO(body),
            "ETag": etag,
            "ContentLength": len(body),
            "LastModified": modified,
        }

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        body, modified = self._check("HeadObject", Bucket, Key)
        return {"ETag": self._etag(body), "ContentLength": len(body), "LastModified": modified}

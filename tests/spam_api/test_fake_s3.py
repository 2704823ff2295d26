"""The in-memory S3 of ``fakes.py`` answers as S3 does: the same requests, run against it
and against moto over HTTP, get the same answers, conditional ones included.

The registry's publisher relies on the conditions (``IfNoneMatch="*"`` for a first
pointer, ``IfMatch`` for the one it read), so a fake that ignored them would let a
registry test pass on a write that S3 refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .fakes import FakeS3

KEY = "models/current.json"
OTHER = "models/elsewhere.json"
STALE = '"0123456789abcdef0123456789abcdef"'


@pytest.fixture(params=["fake", "moto"])
def store(request) -> tuple[Any, str]:
    """(client, bucket): the fake, or boto3 on the session's moto server."""
    if request.param == "fake":
        fake = FakeS3()
        fake.create_bucket(Bucket="fake-bucket")
        return fake, "fake-bucket"
    return request.getfixturevalue("s3_client"), request.getfixturevalue("bucket")


def refused(call: Callable[..., object], **request: str) -> tuple[str, int]:
    """The error code and HTTP status S3 answers ``call(**request)`` with."""
    with pytest.raises(ClientError) as caught:
        call(**request)
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def body(s3: Any, bucket: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=KEY)["Body"].read()


def test_a_create_only_put_writes_once(store) -> None:
    s3, bucket = store
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"first", IfNoneMatch="*")
    again = {"Bucket": bucket, "Key": KEY, "Body": b"second", "IfNoneMatch": "*"}
    assert refused(s3.put_object, **again) == ("PreconditionFailed", 412)
    assert body(s3, bucket) == b"first"


def test_a_put_if_match_writes_only_over_the_etag_it_names(store) -> None:
    s3, bucket = store
    etag = s3.put_object(Bucket=bucket, Key=KEY, Body=b"read")["ETag"]
    stale = {"Bucket": bucket, "Key": KEY, "Body": b"lost", "IfMatch": STALE}
    assert refused(s3.put_object, **stale) == ("PreconditionFailed", 412)
    assert body(s3, bucket) == b"read"
    missing = {"Bucket": bucket, "Key": OTHER, "Body": b"x", "IfMatch": etag}
    assert refused(s3.put_object, **missing) == ("NoSuchKey", 404)
    written = s3.put_object(Bucket=bucket, Key=KEY, Body=b"won", IfMatch=etag)["ETag"]
    assert body(s3, bucket) == b"won" and written != etag


def test_a_get_or_head_if_none_match_is_a_304_only_for_the_current_etag(store) -> None:
    s3, bucket = store
    etag = s3.put_object(Bucket=bucket, Key=KEY, Body=b"pointer")["ETag"]
    for read in (s3.get_object, s3.head_object):
        assert refused(read, Bucket=bucket, Key=KEY, IfNoneMatch=etag) == ("304", 304)
        assert read(Bucket=bucket, Key=KEY, IfNoneMatch=STALE)["ETag"] == etag
    assert refused(s3.get_object, Bucket=bucket, Key=OTHER, IfNoneMatch=etag) == (
        "NoSuchKey",
        404,
    )


def test_a_get_or_head_if_match_is_a_412_for_another_etag(store) -> None:
    s3, bucket = store
    etag = s3.put_object(Bucket=bucket, Key=KEY, Body=b"pointer")["ETag"]
    assert refused(s3.get_object, Bucket=bucket, Key=KEY, IfMatch=STALE) == (
        "PreconditionFailed",
        412,
    )
    assert refused(s3.head_object, Bucket=bucket, Key=KEY, IfMatch=STALE) == ("412", 412)
    assert s3.get_object(Bucket=bucket, Key=KEY, IfMatch=etag)["ETag"] == etag


def test_missing_keys_and_buckets_are_s3s_not_found(store) -> None:
    s3, bucket = store
    assert refused(s3.get_object, Bucket=bucket, Key=OTHER) == ("NoSuchKey", 404)
    assert refused(s3.head_object, Bucket=bucket, Key=OTHER) == ("404", 404)
    assert refused(s3.get_object, Bucket="no-such-bucket-here", Key=KEY) == ("NoSuchBucket", 404)

"""The S3 clients against a server that verifies signatures itself (``@20minutes/s3rver``).

moto accepts any signature and botocore's signer shares botocore's assumptions, so
neither can show that ``HttpS3Client`` signs as S3 expects. s3rver recomputes each
signature in its own JavaScript and refuses a wrong one with ``SignatureDoesNotMatch``:
here the registry reader's whole contract runs on it through both clients, with the
trainer's publisher (boto3) writing, and requests signed by ``sign_v4`` for what the
client does not send yet (a query string, a PUT with a body and ``If-None-Match: *``).

What s3rver does not check, so these tests do not prove (``test_what_s3rver_does_not_check``
pins it): it serves requests that carry no signature at all, it does not compare a body
with its signed SHA-256, it ignores ``If-None-Match`` on PUT, it does not require
``x-amz-*`` headers to be signed, and it accepts any region in the credential scope.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from chalicelib.registry import RegistryReader
from chalicelib.s3_client import AwsEnvironment
from chalicelib.s3_http import HttpS3Client, sign_v4
from chalicelib.settings import Settings

from stack.local.services import Service
from tests.s3rver_support import ACCESS_KEY_ID, SECRET_ACCESS_KEY, missing, s3rver_server

from .conftest import PREFIX
from .test_registry import ReaderContract

pytestmark = [pytest.mark.integration, pytest.mark.external]  # Node.js's s3rver

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ODD_KEY = "models/a b/ü+~=&?$.bin"  # characters the client must percent-encode, and "~"


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """s3rver over HTTP on loopback for the whole session (fails under CI when missing)."""
    reason = missing()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI must run the signature checks)")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("s3rver")
    with s3rver_server(root / "data", log_dir=root) as service:
        yield service


@pytest.fixture
def s3rver_client(s3rver: Service):
    """botocore's client on s3rver: it signs with botocore's signer."""
    return boto3.client(
        "s3",
        endpoint_url=s3rver.url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


@pytest.fixture
def s3rver_bucket(s3rver_client) -> Iterator[str]:
    """A new, empty bucket on s3rver; emptied and deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3rver_client.create_bucket(Bucket=name)
    yield name
    for page in s3rver_client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            # s3rver 5.0.0 escapes listed keys twice ("&" comes back as "&amp;")
            s3rver_client.delete_object(Bucket=name, Key=html.unescape(item["Key"]))
    s3rver_client.delete_bucket(Bucket=name)


def _http_client(
    s3rver: Service, *, secret: str = SECRET_ACCESS_KEY, token: str | None = None
) -> HttpS3Client:
    aws = AwsEnvironment(
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=secret,
        session_token=token,
        region="us-east-1",
        endpoint_url=s3rver.url,
    )
    return HttpS3Client(aws, Settings(s3_max_attempts=1))


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


# -- the registry reader's contract, through both clients ----------------------------------


class TestReaderOnS3rverWithBotocore(ReaderContract):
    """Written and read through botocore's client."""

    @pytest.fixture
    def store(self, s3rver_client, s3rver_bucket):
        return s3rver_client, s3rver_bucket


class TestReaderOnS3rverWithHttpClient(ReaderContract):
    """Written through boto3, read through ``HttpS3Client``: every read is verified."""

    @pytest.fixture
    def store(self, s3rver_client, s3rver_bucket):
        return s3rver_client, s3rver_bucket

    @pytest.fixture
    def reader(self, store, s3rver):
        return RegistryReader(_http_client(s3rver), store[1], PREFIX)


# -- HttpS3Client's own calls ----------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEJr//////////wEaDOn+token="])
def test_get_conditional_get_and_head_pass_the_verifier(
    s3rver, s3rver_client, s3rver_bucket, token
) -> None:
    """A key needing percent-encoding, with and without a (signed) session token."""
    body = b"\x00payload" * 1000
    s3rver_client.put_object(Bucket=s3rver_bucket, Key=ODD_KEY, Body=body)
    theirs = s3rver_client.head_object(Bucket=s3rver_bucket, Key=ODD_KEY)
    client = _http_client(s3rver, token=token)

    got = client.get_object(Bucket=s3rver_bucket, Key=ODD_KEY)
    assert got["Body"].read() == body
    assert (got["ETag"], got["ContentLength"]) == (theirs["ETag"], 8000)
    head = client.head_object(Bucket=s3rver_bucket, Key=ODD_KEY)
    assert (head["ETag"], head["ContentLength"]) == (theirs["ETag"], 8000)

    def conditional(etag: str) -> dict:
        return client.get_object(Bucket=s3rver_bucket, Key=ODD_KEY, IfNoneMatch=etag)

    assert _code(lambda: conditional(theirs["ETag"])) == "304"
    assert conditional('"something-else"')["Body"].read() == body
    assert _code(lambda: client.get_object(Bucket=s3rver_bucket, Key="missing")) == "NoSuchKey"
    assert _code(lambda: client.head_object(Bucket=s3rver_bucket, Key="missing")) == "404"


def test_a_wrong_secret_is_refused_and_the_right_one_passes(
    s3rver, s3rver_client, s3rver_bucket
) -> None:
    """The verifier verifies: the same request, signed with another secret, is refused."""
    s3rver_client.put_object(Bucket=s3rver_bucket, Key="models/current.json", Body=b"{}")
    wrong = _http_client(s3rver, secret="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    assert (
        _code(lambda: wrong.get_object(Bucket=s3rver_bucket, Key="models/current.json"))
        == "SignatureDoesNotMatch"
    )
    # HEAD answers carry no body, hence no code: the status says it.
    assert _code(lambda: wrong.head_object(Bucket=s3rver_bucket, Key="models/current.json")) == (
        "403"
    )
    right = _http_client(s3rver)
    assert right.get_object(Bucket=s3rver_bucket, Key="models/current.json")["Body"].read() == (
        b"{}"
    )


# -- requests the client does not make yet, signed by sign_v4 ------------------------------


def _send(
    s3rver: Service,
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    secret: str = SECRET_ACCESS_KEY,
    payload_sha256: str | None = None,
    sign: bool = True,
    unsigned: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request signed by ``sign_v4`` (or not at all), plus ``unsigned`` headers."""
    url = urlsplit(s3rver.url)
    host = f"{url.hostname}:{url.port}"
    signed = dict(headers or {})
    if sign:
        signed = sign_v4(
            method,
            host,
            path,
            signed,
            access_key=ACCESS_KEY_ID,
            secret_key=secret,
            region="us-east-1",
            now=datetime.now(UTC),
            query=query,
            payload_sha256=payload_sha256 or hashlib.sha256(body).hexdigest(),
        )
    target = f"{path}?{urlencode(query, quote_via=quote)}" if query else path
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        sent = {"Host": host, **signed, **(unsigned or {})}
        connection.request(method, target, body=body, headers=sent)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_signed_query_string_passes_the_verifier(s3rver, s3rver_client, s3rver_bucket) -> None:
    """ListObjectsV2 with a prefix holding ``/``: the query is part of the signature."""
    for key in ("models/current.json", "models/v1/model.pkl", "spam_model.pkl"):
        s3rver_client.put_object(Bucket=s3rver_bucket, Key=key, Body=b"x")
    query = {"list-type": "2", "prefix": "models/"}
    status, body = _send(s3rver, "GET", f"/{s3rver_bucket}", query=query)
    assert status == 200, body
    assert b"<Key>models/current.json</Key>" in body and b"spam_model.pkl" not in body
    status, body = _send(s3rver, "GET", f"/{s3rver_bucket}", query=query, secret="wrong")
    assert (status, b"<Code>SignatureDoesNotMatch</Code>" in body) == (403, True)


def test_a_conditional_put_with_a_body_passes_the_verifier(
    s3rver, s3rver_client, s3rver_bucket
) -> None:
    """The write to come: PUT Object with its body's hash and ``If-None-Match: *`` signed."""
    path = f"/{s3rver_bucket}/{quote('feedback/2026/report $1.json', safe='/~')}"
    body = b'{"label": "spam"}'
    headers = {"If-None-Match": "*", "Content-Type": "application/json"}
    status, answer = _send(s3rver, "PUT", path, headers=headers, body=body, secret="wrong")
    assert (status, b"<Code>SignatureDoesNotMatch</Code>" in answer) == (403, True)
    status, answer = _send(s3rver, "PUT", path, headers=headers, body=body)
    assert status == 200, answer
    stored = s3rver_client.get_object(Bucket=s3rver_bucket, Key="feedback/2026/report $1.json")
    assert stored["Body"].read() == body


def test_the_feedback_writers_put_passes_the_verifier(s3rver, s3rver_client, s3rver_bucket) -> None:
    """HttpS3Client.put_object itself, as POST /feedback calls it: right secret, wrong one."""
    from chalicelib.feedback import FeedbackUnavailableError, FeedbackWriter

    report = FeedbackWriter(_http_client(s3rver), s3rver_bucket, "feedback/").store(
        "WIN a prize £1000", "spam", verdict=None
    )
    key = f"feedback/pending/{report.id[:4]}/{report.id[4:6]}/{report.id[6:8]}/{report.id}.json"
    stored = s3rver_client.get_object(Bucket=s3rver_bucket, Key=key)["Body"].read()
    assert stored == report.to_json()
    wrong = FeedbackWriter(_http_client(s3rver, secret="wrong"), s3rver_bucket, "feedback/")
    with pytest.raises(FeedbackUnavailableError, match="SignatureDoesNotMatch"):
        wrong.store("WIN a prize", "spam", verdict=None)


@pytest.mark.parametrize("kind", ["auto", "botocore"], ids=["http-client", "botocore-client"])
def test_the_capture_writers_put_passes_the_verifier(
    s3rver, s3rver_client, s3rver_bucket, monkeypatch, kind
) -> None:
    """The capture client (``capture.client_settings``) of either kind, as /predict uses it:
    the record lands under ``capture/pending/`` with the right secret, and a wrong secret
    is refused, counted as a failure and never raised."""
    from chalicelib.capture import CaptureWriter, client_settings
    from chalicelib.capture_format import parse_record, record_key
    from chalicelib.model import Scored
    from chalicelib.s3_client import make_s3_client

    def writer(secret: str) -> CaptureWriter:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)  # botocore's chain reads these
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        settings = Settings(s3_client=kind, s3_endpoint_url=s3rver.url, capture_rate=1.0)
        aws = AwsEnvironment(
            access_key_id=ACCESS_KEY_ID, secret_access_key=secret, region="us-east-1"
        )
        client = make_s3_client(client_settings(settings), aws)
        assert type(client).__name__ == ("HttpS3Client" if kind == "auto" else "S3")
        return CaptureWriter(client, s3rver_bucket, settings)

    scored = [Scored(0.93, True), Scored(0.02, False)]
    texts = ["WIN a prize £1000", "see you at 7"]
    assert writer(SECRET_ACCESS_KEY).keep("req-1", "v1", 0.5, texts, scored) == (2, 0)
    listed = s3rver_client.list_objects_v2(Bucket=s3rver_bucket)["Contents"]
    records = [
        parse_record(s3rver_client.get_object(Bucket=s3rver_bucket, Key=o["Key"])["Body"].read())
        for o in listed
    ]
    assert sorted((r.position, r.text) for r in records) == list(enumerate(texts))
    assert {o["Key"] for o in listed} == {record_key("capture/", "pending", r.id) for r in records}
    assert writer("wrong").keep("req-2", "v1", 0.5, texts, scored) == (0, 2)
    assert len(s3rver_client.list_objects_v2(Bucket=s3rver_bucket)["Contents"]) == 2


def test_what_s3rver_does_not_check(s3rver, s3rver_client, s3rver_bucket) -> None:
    """The verifier's blind spots, pinned so that no one reads more into the tests above.

    Real S3 refuses these five requests: an anonymous GET of a private object
    (AccessDenied), a body that is not the one signed (XAmzContentSHA256Mismatch), a
    conditional PUT over an existing key (412 PreconditionFailed), an ``x-amz-*`` header
    left out of the signature (AccessDenied) and a credential scope naming another region
    (AuthorizationHeaderMalformed). s3rver serves them all. If a later s3rver checks one,
    this test fails: then it and the module docstring shrink.
    """
    s3rver_client.put_object(Bucket=s3rver_bucket, Key="k", Body=b"secret")
    assert _send(s3rver, "GET", f"/{s3rver_bucket}/k", sign=False) == (200, b"secret")

    status, _ = _send(
        s3rver, "PUT", f"/{s3rver_bucket}/k", body=b"tampered", payload_sha256="0" * 64
    )
    assert status == 200
    status, _ = _send(
        s3rver, "PUT", f"/{s3rver_bucket}/k", headers={"If-None-Match": "*"}, body=b"again"
    )
    assert status == 200
    assert s3rver_client.get_object(Bucket=s3rver_bucket, Key="k")["Body"].read() == b"again"
    unsigned = {"x-amz-meta-origin": "not signed"}
    assert _send(s3rver, "GET", f"/{s3rver_bucket}/k", unsigned=unsigned) == (200, b"again")

    elsewhere = HttpS3Client(
        AwsEnvironment(
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            region="eu-west-3",
            endpoint_url=s3rver.url,
        ),
        Settings(s3_max_attempts=1),
    )
    assert elsewhere.get_object(Bucket=s3rver_bucket, Key="k")["Body"].read() == b"again"

"""``sign_v4`` against AWS's own worked examples, not against botocore's signer.

The other signature tests compare with botocore, which shares botocore's reading of the
specification. These constants are copied from the S3 API reference, "Signature
calculations for the Authorization header: Transferring payload in a single chunk (AWS
Signature Version 4)", section "Examples: Signature calculations"
(https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html): each
example's canonical request, string to sign and signature, for the page's access key,
secret, instant, region and bucket. The production code computes them; nothing here
re-implements a step of the signature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from chalicelib import s3_http
from chalicelib.s3_client import AwsEnvironment
from chalicelib.s3_http import EMPTY_SHA256, HttpS3Client, sign_v4
from chalicelib.settings import Settings

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)  # 20130524T000000Z
HOST = "examplebucket.s3.amazonaws.com"
PUT_BODY = b"Welcome to Amazon S3."


@dataclass(frozen=True)
class Example:
    """One published example: the request as the page states it, and its three results."""

    method: str
    path: str
    headers: dict[str, str]
    canonical_request: str
    string_to_sign: str
    signature: str
    query: dict[str, str] = field(default_factory=dict)
    payload_sha256: str = EMPTY_SHA256

    def _request(self) -> dict[str, Any]:
        """The request and the page's key, secret, instant and region, as the signer takes them."""
        return {
            "method": self.method,
            "host": HOST,
            "path": self.path,
            "headers": self.headers,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "region": "us-east-1",
            "now": NOW,
            "query": self.query,
            "payload_sha256": self.payload_sha256,
        }

    def sign(self) -> dict[str, str]:
        return sign_v4(**self._request())

    def steps(self) -> s3_http._Signing:
        """The intermediate texts, from the very computation ``sign_v4`` returns the end of."""
        return s3_http._sign(**self._request(), session_token=None)


EXAMPLES = {
    # "Example: GET Object": the first 10 bytes of test.txt.
    "get-object-range": Example(
        method="GET",
        path="/test.txt",
        headers={"Range": "bytes=0-9"},
        canonical_request=(
            "GET\n"
            "/test.txt\n"
            "\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "range:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n"
            "\n"
            "host;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ),
        string_to_sign=(
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        ),
        signature="f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    ),
    # "Example: PUT Object": test$file.text, a body, a Date and a storage class header.
    "put-object": Example(
        method="PUT",
        path="/test%24file.text",
        headers={
            "Date": "Fri, 24 May 2013 00:00:00 GMT",
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
        },
        payload_sha256="44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        canonical_request=(
            "PUT\n"
            "/test%24file.text\n"
            "\n"
            "date:Fri, 24 May 2013 00:00:00 GMT\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\n"
            "x-amz-storage-class:REDUCED_REDUNDANCY\n"
            "\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        ),
        string_to_sign=(
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"
        ),
        signature="98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    ),
    # "Example: GET Bucket Lifecycle": a query parameter without a value.
    "get-bucket-lifecycle": Example(
        method="GET",
        path="/",
        headers={},
        query={"lifecycle": ""},
        canonical_request=(
            "GET\n"
            "/\n"
            "lifecycle=\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n"
            "\n"
            "host;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ),
        string_to_sign=(
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"
        ),
        signature="fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    ),
    # "Example: Get Bucket (List Objects)": two parameters, given here out of order.
    "list-objects": Example(
        method="GET",
        path="/",
        headers={},
        query={"prefix": "J", "max-keys": "2"},
        canonical_request=(
            "GET\n"
            "/\n"
            "max-keys=2&prefix=J\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n"
            "\n"
            "host;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ),
        string_to_sign=(
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7"
        ),
        signature="34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    ),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_sign_v4_reproduces_the_published_signature(name: str) -> None:
    example = EXAMPLES[name]
    signed = example.sign()
    signed_names = example.canonical_request.split("\n")[-2]
    # The page prints the header with bare commas; botocore (and sign_v4) put a space
    # after each, which S3 accepts as well.
    assert signed["authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request, "
        f"SignedHeaders={signed_names}, Signature={example.signature}"
    )
    assert signed["x-amz-date"] == "20130524T000000Z"
    assert signed["x-amz-content-sha256"] == example.payload_sha256


@pytest.mark.parametrize("name", EXAMPLES)
def test_canonical_request_and_string_to_sign_are_the_published_ones(name: str) -> None:
    """The intermediate texts, from the very computation ``sign_v4`` returns the end of."""
    example = EXAMPLES[name]
    steps = example.steps()
    assert steps.canonical_request == example.canonical_request
    assert steps.string_to_sign == example.string_to_sign
    assert steps.signature == example.signature
    assert steps.headers == example.sign()


def test_the_put_example_signs_its_body_hash() -> None:
    """The write path to come (a PUT with a body) signs the body's SHA-256 as the page does."""
    assert hashlib.sha256(PUT_BODY).hexdigest() == EXAMPLES["put-object"].payload_sha256
    # The client percent-encodes a key as the page's canonical URI does.
    aws = AwsEnvironment(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, region="us-east-1")
    client = HttpS3Client(aws, Settings())
    assert client._address("examplebucket", "test$file.text")[3] == "/test%24file.text"


def test_a_conditional_put_signs_if_none_match() -> None:
    """``If-None-Match: *`` (write only if absent) is signed, so a proxy cannot drop it."""
    put = EXAMPLES["put-object"]
    plain = put.sign()
    conditional = replace(put, headers={**put.headers, "If-None-Match": "*"}).sign()
    assert (
        "SignedHeaders=date;host;if-none-match;x-amz-content-sha256;"
        in (conditional["authorization"])
    )
    assert conditional["authorization"] != plain["authorization"]


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ({"prefix": "a b/c", "list-type": "2"}, "list-type=2&prefix=a%20b%2Fc"),
        ({"delimiter": "/", "encoding-type": "url"}, "delimiter=%2F&encoding-type=url"),
        ({"k": "ü+=&~"}, "k=%C3%BC%2B%3D%26~"),
    ],
)
def test_query_strings_are_encoded_as_sigv4_requires(query: dict[str, str], canonical: str) -> None:
    """Beyond the page's plain values: ``/``, spaces and reserved characters are escaped."""
    steps = replace(EXAMPLES["list-objects"], query=query).steps()
    assert steps.canonical_request.split("\n")[2] == canonical

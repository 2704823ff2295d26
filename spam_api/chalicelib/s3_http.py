"""Reading S3 objects with the standard library: the API's cold path without botocore.

Why: the API makes a handful of calls (a conditional GET of ``current.json``, two GETs of
the pickles, HEADs for the legacy layout, one PUT per feedback report), yet creating
botocore's S3 client is a large part of every cold start: importing botocore and urllib3,
then parsing S3's service model, its endpoint rules and ``endpoints.json`` (the README's
"Reading and writing S3" and ``make bench``'s cold-start rows have the figures).

``HttpS3Client`` makes those two calls with ``http.client``, signed with Signature
Version 4, and answers as botocore's client does: the same response keys,
``botocore.exceptions.ClientError`` carrying S3's error code for an error status,
``OSError`` when S3 cannot be reached. ``chalicelib.registry.RegistryReader`` therefore
treats both clients alike. Three checks that share no assumptions hold the signer: the
tests compare its ``Authorization`` header with botocore's for the same request,
reproduce AWS's published worked examples byte for byte (``sign_v4`` signs any method,
query string and body for them), and send requests to an S3 server that verifies
signatures in its own code (``@20minutes/s3rver``).

It only serves the case it knows completely, the one Lambda presents: credentials and
region in environment variables and either AWS's own S3 endpoints or one configured
endpoint (``S3_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``; addressed
path-style, as MinIO and moto expect). Anything else (a profile, a config file, FIPS or
dual-stack endpoints, ``S3_CLIENT=botocore``) gets botocore's client
(``chalicelib.s3_client.make_s3_client`` decides).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.exceptions import ClientError

from chalicelib.s3_client import AwsEnvironment
from chalicelib.settings import Settings

__all__ = ["EMPTY_SHA256", "MAX_IDLE_CONNECTIONS", "HttpS3Client", "sign_v4"]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_ALGORITHM = "AWS4-HMAC-SHA256"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 307, 400})  # S3's answers for a bucket in another region
# a bucket name usable as a host name label (no dots: they break the TLS wildcard)
_VIRTUAL_HOSTABLE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ERROR_CODE = re.compile(rb"<Code>([^<]{1,200})</Code>")
_ERROR_MESSAGE = re.compile(rb"<Message>([^<]{0,500})</Message>")
#: Idle connections kept per host for later calls; one more coming back is closed.
MAX_IDLE_CONNECTIONS = 4


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _uri_encode(text: str) -> str:
    """SigV4's URI encoding: every byte but ``A-Za-z0-9-_.~`` as ``%XX``, ``/`` included."""
    return quote(text, safe="")


def _canonical_query(query: Mapping[str, str]) -> str:
    """Name-value pairs encoded, sorted by name; a name without value keeps its ``=``."""
    pairs = sorted((_uri_encode(name), _uri_encode(value)) for name, value in query.items())
    return "&".join(f"{name}={value}" for name, value in pairs)


@dataclass(frozen=True)
class _Signing:
    """One request's Signature V4 and the texts it is computed from (the tests read them)."""

    canonical_request: str
    string_to_sign: str
    signature: str
    headers: dict[str, str]


def _sign(
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    *,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    session_token: str | None,
    query: Mapping[str, str],
    payload_sha256: str,
) -> _Signing:
    """``sign_v4``'s computation, step by step as AWS's S3 API reference lays it out."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    signed.update({"host": host, "x-amz-content-sha256": payload_sha256, "x-amz-date": stamp})
    if session_token:
        signed["x-amz-security-token"] = session_token
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            path,
            _canonical_query(query),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        [_ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), stamp[:8])
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    out = {name: value for name, value in signed.items() if name != "host"}
    out["authorization"] = (
        f"{_ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return _Signing(canonical, to_sign, signature, out)


def sign_v4(
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    *,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    session_token: str | None = None,
    query: Mapping[str, str] | None = None,
    payload_sha256: str = EMPTY_SHA256,
) -> dict[str, str]:
    """The request's headers plus ``x-amz-*`` and ``Authorization``, for S3.

    ``path`` is the URI-encoded path as sent (S3 signs it as is, without normalising);
    ``host`` is the Host header (with the port unless it is the scheme's default). Every
    header given is signed, as botocore does for these headers. ``query`` holds the
    decoded query parameters (``{"lifecycle": ""}`` for ``?lifecycle``); the URL must
    carry the same ones. ``payload_sha256`` is the body's SHA-256 in hex (the empty
    body's by default) or ``UNSIGNED-PAYLOAD``; it is also sent as
    ``x-amz-content-sha256``.
    """
    return _sign(
        method,
        host,
        path,
        headers,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        now=now,
        session_token=session_token,
        query=query or {},
        payload_sha256=payload_sha256,
    ).headers


def _client_error(
    status: int, headers: Mapping[str, str], body: bytes, operation: str
) -> ClientError:
    """botocore's ``ClientError`` for an error status, with S3's code when the body has one."""
    code_match = _ERROR_CODE.search(body)
    message_match = _ERROR_MESSAGE.search(body)
    code = code_match.group(1).decode("utf-8", "replace") if code_match else str(status)
    message = message_match.group(1).decode("utf-8", "replace") if message_match else ""
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": dict(headers)},
    }
    return ClientError(response, operation)


class HttpS3Client:
    """``get_object`` and ``head_object`` of one S3 endpoint over ``http.client``.

    Parameters
    ----------
    aws : credentials, region and endpoint as read by ``chalicelib.s3_client``.
    settings : the API's timeouts and attempts (``S3_*``); ``S3_ENDPOINT_URL`` wins over
        the AWS endpoint variables.
    sleep, clock : injectable for tests.

    Connections are kept alive in a small pool per host: a call takes an idle one or opens
    one, so calls from several threads (``chalice local`` serves each request on its own)
    run at once, and gives it back after the whole response; beyond
    ``MAX_IDLE_CONNECTIONS`` idle ones, it is closed instead. A request is attempted up to
    ``s3_max_attempts`` times on connection errors, timeouts and S3's 429 and 5xx answers;
    a kept-alive connection that the server has closed is re-opened without counting as
    an attempt.
    """

    def __init__(
        self,
        aws: AwsEnvironment,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not (aws.access_key_id and aws.secret_access_key and aws.region):
            raise ValueError("HttpS3Client needs credentials and a region")
        self._aws = aws
        self._endpoint = settings.s3_endpoint_url or aws.endpoint_url
        self._connect_timeout = settings.s3_connect_timeout_seconds
        self._read_timeout = settings.s3_read_timeout_seconds
        self._attempts = settings.s3_max_attempts
        self._sleep, self._clock = sleep, clock
        self._bucket_regions: dict[str, str] = {}
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()  # guards the pool and the TLS context; never held on I/O
        self._tls: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        where = self._endpoint or f"AWS S3 in {self._aws.region}"
        return f"HttpS3Client({where})"

    # -- the calls the API makes: RegistryReader reads, the feedback writer creates -------

    def get_object(self, *, Bucket: str, Key: str, IfNoneMatch: str | None = None) -> dict:
        """The object's body (``Body.read()``), ``ETag``, ``ContentLength``, ``LastModified``."""
        headers = {"if-none-match": IfNoneMatch} if IfNoneMatch else {}
        status, response_headers, body = self._call("GET", "GetObject", Bucket, Key, headers)
        return {**self._metadata(status, response_headers), "Body": io.BytesIO(body)}

    def head_object(self, *, Bucket: str, Key: str) -> dict:
        """The object's ``ETag``, ``ContentLength`` and ``LastModified``."""
        status, response_headers, _ = self._call("HEAD", "HeadObject", Bucket, Key, {})
        return self._metadata(status, response_headers)

    def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes,
        ContentType: str = "binary/octet-stream",
        IfNoneMatch: str | None = None,
    ) -> dict:
        """Write ``Body``; with ``IfNoneMatch="*"`` only if no object has that key (else 412)."""
        headers = {"content-type": ContentType}
        if IfNoneMatch:
            headers["if-none-match"] = IfNoneMatch
        status, response_headers, _ = self._call("PUT", "PutObject", Bucket, Key, headers, Body)
        return {
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": response_headers},
            "ETag": response_headers.get("etag", ""),
        }

    @staticmethod
    def _metadata(status: int, headers: Mapping[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": dict(headers)},
            "ETag": headers.get("etag", ""),
            "ContentLength": int(headers.get("content-length") or 0),
        }
        if headers.get("last-modified"):
            out["LastModified"] = parsedate_to_datetime(headers["last-modified"])
        return out

    # -- addressing, signing, sending -------------------------------------------------------

    def _address(self, bucket: str, key: str) -> tuple[str, str, int, str]:
        """``(scheme, host, port, path)``: path-style on a configured endpoint, else AWS's."""
        encoded_key = quote(key, safe="/~")
        if self._endpoint:
            url = urlsplit(self._endpoint)
            scheme = url.scheme
            base = url.path.rstrip("/")
            host, port = url.hostname or "", url.port
            path = f"{base}/{quote(bucket, safe='')}/{encoded_key}"
        else:
            scheme, port = "https", None
            region = self._bucket_regions.get(bucket, self._aws.region)
            suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
            if _VIRTUAL_HOSTABLE.match(bucket):
                host, path = f"{bucket}.s3.{region}.{suffix}", f"/{encoded_key}"
            else:
                host, path = f"s3.{region}.{suffix}", f"/{quote(bucket, safe='')}/{encoded_key}"
        default = 443 if scheme == "https" else 80
        return scheme, host, port or default, path

    def _call(
        self,
        method: str,
        operation: str,
        bucket: str,
        key: str,
        headers: dict[str, str],
        body: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes]:
        payload_sha256 = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        redirected = False
        attempt = 0
        while True:
            attempt += 1
            scheme, host, port, path = self._address(bucket, key)
            region = self._bucket_regions.get(bucket, self._aws.region)
            named = f"[{host}]" if ":" in host else host  # an IPv6 literal, as in URLs
            host_header = named if port == (443 if scheme == "https" else 80) else f"{named}:{port}"
            signed = sign_v4(
                method,
                host_header,
                path,
                headers,
                access_key=self._aws.access_key_id,
                secret_key=self._aws.secret_access_key,
                session_token=self._aws.session_token,
                region=region,
                now=self._clock(),
                payload_sha256=payload_sha256,
            )
            try:
                status, response_headers, answer = self._send(
                    scheme, host, port, method, path, {"Host": host_header, **signed}, body
                )
            except OSError:
                if attempt >= self._attempts:
                    raise
                self._backoff(attempt)
                continue
            if status in (200, 206):
                return status, response_headers, answer
            if status == 304:
                raise _client_error(304, response_headers, b"", operation)  # code "304"
            moved_to = response_headers.get("x-amz-bucket-region")
            if (
                status in _REDIRECT_STATUSES
                and moved_to
                and moved_to != region
                and not self._endpoint
                and not redirected
            ):
                self._bucket_regions[bucket] = moved_to  # as botocore's S3 region redirector
                redirected = True
                attempt -= 1
                continue
            if status in _RETRY_STATUSES and attempt < self._attempts:
                self._backoff(attempt)
                continue
            raise _client_error(status, response_headers, answer, operation)

    def _backoff(self, attempt: int) -> None:
        self._sleep(random.random() * min(1.0, 0.05 * 2**attempt))  # noqa: S311 - jitter

    def _send(
        self,
        scheme: str,
        host: str,
        port: int,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on an idle connection (or a fresh one if the server closed it)."""
        key = (scheme, host, port)
        idle = self._take_idle(key)
        if idle is not None:
            try:
                return self._exchange(idle, key, method, path, headers, body)
            except ConnectionError:
                pass  # the server dropped an idle connection: try a fresh one
        fresh = self._open(scheme, host, port)
        return self._exchange(fresh, key, method, path, headers, body)

    def _take_idle(self, key: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        """The most recently used idle connection to ``key`` (least likely closed by now)."""
        with self._lock:
            pool = self._idle.get(key)
            return pool.pop() if pool else None

    def _give_back(self, key: tuple[str, str, int], connection: http.client.HTTPConnection) -> None:
        with self._lock:
            pool = self._idle.setdefault(key, [])
            if len(pool) < MAX_IDLE_CONNECTIONS:
                pool.append(connection)
                return
        connection.close()

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        key: tuple[str, str, int],
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes]:
        """Request and whole response on ``connection``, kept for a next call if it may be."""
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if isinstance(exc, OSError):
                raise
            raise ConnectionError(f"S3 sent a broken response: {exc!r}") from exc
        if response.will_close:
            connection.close()
        else:
            self._give_back(key, connection)
        found = {name.lower(): value for name, value in response.getheaders()}
        return response.status, found, body

    def _open(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        """A connected socket: ``connect_timeout`` to connect, ``read_timeout`` after."""
        connection: http.client.HTTPConnection
        if scheme == "https":
            with self._lock:
                if self._tls is None:
                    self._tls = ssl.create_default_context(cafile=self._aws.ca_bundle)
            connection = http.client.HTTPSConnection(
                host, port, timeout=self._connect_timeout, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        connection.connect()
        connection.sock.settimeout(self._read_timeout)
        return connection

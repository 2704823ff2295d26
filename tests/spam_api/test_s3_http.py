"""The standard-library S3 reader: botocore's signature, botocore's answers, bounded failure."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from chalicelib.registry import RegistryReader
from chalicelib.s3_client import AwsEnvironment, load_aws_environment, make_s3_client
from chalicelib.s3_http import MAX_IDLE_CONNECTIONS, HttpS3Client, sign_v4
from chalicelib.settings import Settings, SettingsError, load_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from stack.local.services import free_port

from .test_registry import ReaderContract

API_DIR = Path(__file__).resolve().parents[2] / "spam_api"
NOW = datetime(2026, 11, 25, 23, 0, 7, tzinfo=UTC)


def _aws(endpoint: str | None = None, token: str | None = None, region: str = "us-east-1"):
    return AwsEnvironment(
        access_key_id="AKIDEXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token=token,
        region=region,
        endpoint_url=endpoint,
    )


def _botocore_authorization(method, url, headers, aws, monkeypatch) -> dict[str, str]:
    """What botocore's own S3 signer puts on the same request at the same instant."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    credentials = Credentials(aws.access_key_id, aws.secret_access_key, aws.session_token)
    botocore.auth.S3SigV4Auth(credentials, "s3", aws.region).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize(
    ("method", "host", "path", "headers", "token", "region"),
    [
        (
            "GET",
            "models-bucket.s3.us-east-1.amazonaws.com",
            "/models/current.json",
            {},
            None,
            "us-east-1",
        ),
        (
            "GET",
            "models-bucket.s3.eu-west-1.amazonaws.com",
            "/models/current.json",
            {"if-none-match": '"0f3a"'},
            "FQoGZXIvYXdzEJr//////////wEaDOn+token=",
            "eu-west-1",
        ),
        (
            "HEAD",
            "s3.us-east-1.amazonaws.com",
            "/my.dotted.bucket/spam_model.pkl",
            {},
            None,
            "us-east-1",
        ),
        (
            "GET",
            "127.0.0.1:5000",
            "/bkt/models/20261125T230000Z-1a2b3c/vectorizer.pkl",
            {},
            None,
            "us-east-1",
        ),
        (
            "GET",
            "s3.cn-north-1.amazonaws.com.cn",
            "/b/a%20b/%C3%BC%2B~.pkl",
            {},
            "tok",
            "cn-north-1",
        ),
    ],
)
def test_signature_is_botocores(method, host, path, headers, token, region, monkeypatch) -> None:
    aws = _aws(token=token, region=region)
    ours = sign_v4(
        method,
        host,
        path,
        headers,
        access_key=aws.access_key_id,
        secret_key=aws.secret_access_key,
        session_token=token,
        region=region,
        now=NOW,
    )
    scheme = "http" if host.startswith("127.") else "https"
    theirs = _botocore_authorization(method, f"{scheme}://{host}{path}", headers, aws, monkeypatch)
    assert ours["authorization"] == theirs["authorization"]
    for name in ("x-amz-date", "x-amz-content-sha256", "x-amz-security-token"):
        assert ours.get(name) == theirs.get(name)


@hypothesis_settings(max_examples=60, deadline=None)
@given(key=st.text(min_size=1, max_size=40).filter(lambda k: not k.startswith("/")))
def test_signature_is_botocores_for_any_key(key: str) -> None:
    client = HttpS3Client(_aws("http://127.0.0.1:9"), Settings())
    _, host, port, path = client._address("bkt", key)
    ours = sign_v4(
        "GET",
        f"{host}:{port}",
        path,
        {},
        access_key="AKID",
        secret_key="secret",
        region="us-east-1",
        now=NOW,
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        aws = AwsEnvironment(access_key_id="AKID", secret_access_key="secret", region="us-east-1")
        theirs = _botocore_authorization("GET", f"http://{host}:{port}{path}", {}, aws, monkeypatch)
    assert ours["authorization"] == theirs["authorization"]


def test_addressing() -> None:
    aws = _aws()
    on_aws = HttpS3Client(aws, Settings())
    assert on_aws._address("models-bucket", "models/a b.pkl") == (
        "https",
        "models-bucket.s3.us-east-1.amazonaws.com",
        443,
        "/models/a%20b.pkl",
    )
    # dots would break the TLS wildcard certificate: path-style
    assert on_aws._address("my.bucket", "k") == (
        "https",
        "s3.us-east-1.amazonaws.com",
        443,
        "/my.bucket/k",
    )
    china = HttpS3Client(_aws(region="cn-north-1"), Settings())
    assert china._address("b-1", "k")[1] == "b-1.s3.cn-north-1.amazonaws.com.cn"
    local = HttpS3Client(_aws("http://localhost:9000/base/"), Settings())
    assert local._address("bkt", "models/x") == ("http", "localhost", 9000, "/base/bkt/models/x")
    # S3_ENDPOINT_URL (the API's own setting) wins over AWS_ENDPOINT_URL_S3
    ours = HttpS3Client(aws, Settings(s3_endpoint_url="https://minio.example.org"))
    assert ours._address("bkt", "k") == ("https", "minio.example.org", 443, "/bkt/k")


# -- which client the API builds ------------------------------------------------------------

LAMBDA_ENV = {
    "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_SESSION_TOKEN": "token",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


def test_lambda_environment_gets_the_http_client() -> None:
    client = make_s3_client(Settings(), load_aws_environment(LAMBDA_ENV))
    assert isinstance(client, HttpS3Client)
    assert "eu-west-1" in repr(client)


@pytest.mark.parametrize(
    ("change", "s3_client"),
    [
        ({}, "botocore"),  # asked for
        ({"AWS_PROFILE": "dev"}, "auto"),  # profiles, config files: botocore's chain
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, "auto"),
        ({"HTTPS_PROXY": "http://proxy.internal:3128"}, "auto"),  # botocore honours proxies
        ({"AWS_ACCESS_KEY_ID": ""}, "auto"),  # no credentials in the environment
        ({"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, "auto"),  # region from a config file
    ],
)
def test_anything_else_gets_botocore(change, s3_client) -> None:
    aws = load_aws_environment({**LAMBDA_ENV, **change})
    client = make_s3_client(Settings(s3_client=s3_client), aws)
    assert not isinstance(client, HttpS3Client)
    assert client.meta.service_model.service_name == "s3"


def test_s3_client_setting_and_secrets_kept_out_of_repr() -> None:
    assert load_settings({"S3_CLIENT": "BOTOCORE"}).s3_client == "botocore"
    with pytest.raises(SettingsError, match="S3_CLIENT must be one of auto, botocore"):
        load_settings({"S3_CLIENT": "requests"})
    text = repr(load_aws_environment(LAMBDA_ENV))
    assert "secret" not in text and "token" not in text and "ASIA" not in text


def test_the_cold_path_imports_neither_botocore_client_nor_urllib3() -> None:
    """What the http client is for: a model fetch without botocore's client machinery."""
    code = (
        "import sys\n"
        "from chalicelib.s3_client import load_aws_environment, make_s3_client\n"
        "from chalicelib.settings import Settings\n"
        "c = make_s3_client(Settings(), load_aws_environment())\n"
        "print(type(c).__name__, sorted(m for m in sys.modules if m in "
        "('urllib3', 'botocore.session', 'botocore.client', 'botocore.config', 'boto3')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**LAMBDA_ENV, "PYTHONPATH": str(API_DIR)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["HttpS3Client", "[]"]


# -- against moto over HTTP: the reader's whole contract, and botocore's answers ----------


@pytest.fixture
def http_s3(s3_endpoint: str) -> HttpS3Client:
    return HttpS3Client(_aws(s3_endpoint), Settings(s3_max_attempts=2))


class TestReaderOnHttpClient(ReaderContract):
    """Written through boto3, read through ``HttpS3Client``."""

    @pytest.fixture
    def store(self, s3_client, bucket):
        return s3_client, bucket

    @pytest.fixture
    def reader(self, store, http_s3):
        return RegistryReader(http_s3, store[1], "models/")


def test_answers_match_botocores(s3_client, bucket, http_s3) -> None:
    key = "models/a b/ü+~=&?.bin"
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"\x00payload" * 1000)
    theirs = s3_client.get_object(Bucket=bucket, Key=key)
    ours = http_s3.get_object(Bucket=bucket, Key=key)
    assert ours["Body"].read() == theirs["Body"].read() == b"\x00payload" * 1000
    for name in ("ETag", "ContentLength", "LastModified"):
        assert ours[name] == theirs[name], name
    head = http_s3.head_object(Bucket=bucket, Key=key)
    assert (head["ETag"], head["ContentLength"]) == (theirs["ETag"], 8000)

    def code(call) -> str:
        with pytest.raises(ClientError) as caught:
            call()
        return caught.value.response["Error"]["Code"]

    for client in (s3_client, http_s3):  # the same codes from both clients
        assert (
            code(lambda c=client: c.get_object(Bucket=bucket, Key=key, IfNoneMatch=theirs["ETag"]))
            == "304"
        )
        assert code(lambda c=client: c.get_object(Bucket=bucket, Key="missing")) == "NoSuchKey"
        assert code(lambda c=client: c.head_object(Bucket=bucket, Key="missing")) == "404"
        assert code(lambda c=client: c.get_object(Bucket="no-such-bucket-x", Key="k")) == (
            "NoSuchBucket"
        )


# -- failure: retries, timeouts, dropped connections -----------------------------------------


class _Script(http.server.BaseHTTPRequestHandler):
    """Answers from a list of (status, body) shared by the server; records each request."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        server.seen.append(dict(self.headers))
        server.peers.append(self.client_address)
        status, body, close = server.answers.pop(0) if server.answers else (200, b"ok", False)
        if status is None:  # never answer
            time.sleep(5)
            return
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"e"')
        self.end_headers()
        self.wfile.write(body)
        if close:  # drop the kept-alive connection without saying so
            self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[http.server.ThreadingHTTPServer]:
    yield from _serve_script()


def _serve_script(
    tls: Any = None, handler: type = _Script
) -> Iterator[http.server.ThreadingHTTPServer]:
    """A ``handler`` server on loopback (behind ``tls``, an SSL context, when given)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.answers, server.seen, server.peers = [], [], []
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _client(server, **settings) -> HttpS3Client:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return HttpS3Client(_aws(url), Settings(**settings), sleep=lambda _: None)


SLOW_DOWN = b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"


def test_5xx_is_retried_up_to_the_attempts(scripted) -> None:
    scripted.answers[:] = [(503, SLOW_DOWN, False), (200, b"model", False)]
    assert (
        _client(scripted, s3_max_attempts=2).get_object(Bucket="b", Key="k")["Body"].read()
        == b"model"
    )
    assert len(scripted.seen) == 2

    scripted.seen.clear()
    scripted.answers[:] = [(503, SLOW_DOWN, False)] * 3
    with pytest.raises(ClientError) as caught:
        _client(scripted, s3_max_attempts=3).get_object(Bucket="b", Key="k")
    assert caught.value.response["Error"] == {
        "Code": "SlowDown",
        "Message": "Reduce your request rate.",
    }
    assert len(scripted.seen) == 3


def test_4xx_is_not_retried(scripted) -> None:
    scripted.answers[:] = [(403, b"<Error><Code>AccessDenied</Code></Error>", False)]
    with pytest.raises(ClientError, match="AccessDenied"):
        _client(scripted, s3_max_attempts=3).get_object(Bucket="b", Key="k")
    assert len(scripted.seen) == 1


def test_a_dropped_idle_connection_is_reopened_without_using_an_attempt(scripted) -> None:
    client = _client(scripted, s3_max_attempts=1)
    scripted.answers[:] = [(200, b"one", True), (200, b"two", False)]
    assert client.get_object(Bucket="b", Key="k")["Body"].read() == b"one"
    time.sleep(0.1)  # the server has closed the socket the client keeps
    assert client.get_object(Bucket="b", Key="k")["Body"].read() == b"two"
    assert len(scripted.seen) == 2


def test_signed_headers_reach_the_server(scripted) -> None:
    client = HttpS3Client(
        _aws(f"http://127.0.0.1:{scripted.server_address[1]}", token="tok"), Settings()
    )
    client.get_object(Bucket="b", Key="models/current.json", IfNoneMatch='"e"')
    (headers,) = scripted.seen
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert (
        "if-none-match;x-amz-content-sha256;x-amz-date;x-amz-security-token"
        in (lowered["authorization"])
    )
    assert lowered["x-amz-security-token"] == "tok"
    assert lowered["host"] == f"127.0.0.1:{scripted.server_address[1]}"


def test_an_ipv6_endpoint_is_bracketed_in_host_and_signature(monkeypatch) -> None:
    client = HttpS3Client(_aws("http://[::1]:9000"), Settings())
    sent = []
    monkeypatch.setattr(
        client, "_send", lambda *args: sent.append(args) or (200, {"content-length": "0"}, b"")
    )
    client.get_object(Bucket="bkt", Key="k")
    ((scheme, host, port, method, path, headers, body),) = sent
    assert (scheme, method, body) == ("http", "GET", b"")  # a GET sends no body
    assert (host, port, path, headers["Host"]) == ("::1", 9000, "/bkt/k", "[::1]:9000")
    expected = sign_v4(
        "GET",
        "[::1]:9000",
        "/bkt/k",
        {},
        access_key="AKIDEXAMPLE",
        secret_key=_aws().secret_access_key,
        region="us-east-1",
        now=datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
    )
    assert headers["authorization"] == expected["authorization"]


def test_a_silent_server_times_out_within_the_read_timeout(scripted) -> None:
    scripted.answers[:] = [(None, b"", False)] * 2
    client = _client(scripted, s3_read_timeout_seconds=0.3, s3_max_attempts=2)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.get_object(Bucket="b", Key="k")
    assert time.monotonic() - started < 2.0
    assert len(scripted.seen) == 2


def test_a_closed_port_fails_fast_after_the_attempts() -> None:
    port = free_port()
    attempts: list[float] = []
    client = HttpS3Client(
        _aws(f"http://127.0.0.1:{port}"),
        Settings(s3_connect_timeout_seconds=0.5, s3_max_attempts=3),
        sleep=attempts.append,
    )
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        client.get_object(Bucket="b", Key="k")
    assert time.monotonic() - started < 2.0
    assert len(attempts) == 2  # two back-offs: three attempts
    assert all(0 <= pause <= 1.0 for pause in attempts)


def test_a_bucket_in_another_region_is_followed_once(monkeypatch) -> None:
    client = HttpS3Client(_aws(region="us-east-1"), Settings())
    sent: list[tuple[str, str]] = []

    def fake_send(scheme, host, port, method, path, headers, body=b""):
        sent.append((host, headers["authorization"].split("/")[2]))
        if "eu-central-1" in host:
            return 200, {"etag": '"e"', "content-length": "2"}, b"ok"
        return 301, {"x-amz-bucket-region": "eu-central-1"}, b"<Code>PermanentRedirect</Code>"

    monkeypatch.setattr(client, "_send", fake_send)
    assert client.get_object(Bucket="far-bucket", Key="k")["Body"].read() == b"ok"
    assert sent == [
        ("far-bucket.s3.us-east-1.amazonaws.com", "us-east-1"),
        ("far-bucket.s3.eu-central-1.amazonaws.com", "eu-central-1"),
    ]
    client.get_object(Bucket="far-bucket", Key="k")  # remembered: straight to the region
    assert sent[-1][1] == "eu-central-1" and len(sent) == 3


def test_missing_credentials_are_refused_early() -> None:
    with pytest.raises(ValueError, match="credentials"):
        HttpS3Client(AwsEnvironment(region="us-east-1"), Settings())


# -- several threads at once: a small pool of kept-alive connections -------------------------


class _Together(http.server.BaseHTTPRequestHandler):
    """Answers a GET only once ``server.barrier``'s count of requests are inside at once.

    Requests made one at a time break the barrier (its own timeout) and get a 503, so a
    client that serialises its calls fails the test instead of hanging it.
    """

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.server.count_lock:
            self.server.opened += 1

    def do_GET(self) -> None:
        try:
            self.server.barrier.wait()
            status, body = 200, b"together"
        except threading.BrokenBarrierError:
            status, body = 503, b"<Error><Code>OneAtATime</Code></Error>"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def finish(self) -> None:  # the connection is over (the client closed it)
        super().finish()
        with self.server.count_lock:
            self.server.closed += 1

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def together() -> Iterator[http.server.ThreadingHTTPServer]:
    for server in _serve_script(handler=_Together):
        server.count_lock, server.opened, server.closed = threading.Lock(), 0, 0
        yield server


def _get_all(client: HttpS3Client, count: int) -> list[bytes]:
    """``count`` GETs, each from its own thread, all started at once."""
    with ThreadPoolExecutor(count) as pool:
        calls = [
            pool.submit(lambda: client.get_object(Bucket="b", Key="k")["Body"].read())
            for _ in range(count)
        ]
        return [call.result() for call in calls]


def test_two_slow_calls_overlap(together) -> None:
    together.barrier = threading.Barrier(2, timeout=5)
    client = _client(together, s3_max_attempts=1)
    assert _get_all(client, 2) == [b"together"] * 2


def test_idle_connections_beyond_a_few_are_closed_and_the_rest_reused(together) -> None:
    count = MAX_IDLE_CONNECTIONS + 2
    together.barrier = threading.Barrier(count, timeout=5)
    client = _client(together, s3_max_attempts=1)
    assert _get_all(client, count) == [b"together"] * count  # all in flight at once
    assert together.opened == count
    deadline = time.monotonic() + 5
    while together.closed < count - MAX_IDLE_CONNECTIONS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert together.closed == count - MAX_IDLE_CONNECTIONS  # the ones the pool had no room for
    together.barrier = threading.Barrier(MAX_IDLE_CONNECTIONS, timeout=5)
    assert _get_all(client, MAX_IDLE_CONNECTIONS) == [b"together"] * MAX_IDLE_CONNECTIONS
    assert together.opened == count  # served by the kept connections: none opened


# -- HTTPS, as on AWS: the certificate is verified ------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spam-api test S3")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_server(tls_files) -> Iterator[http.server.ThreadingHTTPServer]:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    yield from _serve_script(context)


def test_https_with_the_configured_ca_bundle(tls_server, tls_files) -> None:
    """AWS_CA_BUNDLE is honoured, and the connection is kept alive across calls."""
    url = f"https://127.0.0.1:{tls_server.server_address[1]}"
    aws = AwsEnvironment(
        access_key_id="AKID",
        secret_access_key="secret",
        region="us-east-1",
        endpoint_url=url,
        ca_bundle=str(tls_files[0]),
    )
    client = HttpS3Client(aws, Settings())
    tls_server.answers[:] = [(200, b"over tls", False), (200, b"again", False)]
    assert client.get_object(Bucket="b", Key="k")["Body"].read() == b"over tls"
    assert client.get_object(Bucket="b", Key="k")["Body"].read() == b"again"
    assert len(set(tls_server.peers)) == 1  # one connection: one TLS handshake for both


def test_https_refuses_a_certificate_it_cannot_verify(tls_server) -> None:
    url = f"https://127.0.0.1:{tls_server.server_address[1]}"
    client = HttpS3Client(_aws(url), Settings(s3_max_attempts=1))
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get_object(Bucket="b", Key="k")
    assert tls_server.seen == []  # nothing was sent


def test_the_https_cold_path_is_verified_by_the_reader(tls_server) -> None:
    """Through RegistryReader, an unverifiable S3 is 'did not answer', never a 5xx."""
    from chalicelib.registry_format import RegistryUnavailableError

    url = f"https://127.0.0.1:{tls_server.server_address[1]}"
    reader = RegistryReader(HttpS3Client(_aws(url), Settings(s3_max_attempts=1)), "b", "models/")
    with pytest.raises(RegistryUnavailableError, match="did not answer"):
        reader.fetch_pointer()

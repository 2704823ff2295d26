"""The README's error contract, route by route: one shape per status, CORS, request ids,
``Retry-After`` on every 503 and none elsewhere, and no internal name in any body.

Each situation is checked on every route, so a route that answers its own way fails here:
S3 down at cold start, nothing published, the deployment not configured, bad input, and
Chalice's own 405 and 415.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from .conftest import API_DIR, body_of, post, unreachable_s3

ROUTES = (
    ("POST", "/predict", {"text": "Congratulations, you won a prize"}),
    ("POST", "/predict/batch", {"texts": ["Congratulations, you won a prize"]}),
    ("GET", "/health", None),
    ("GET", "/model", None),
)
ERROR_KEYS = {"status", "Code", "Message"}
#: What /health adds to the common error shape when it cannot serve.
HEALTH_KEYS = {"ready", "model_version", "reason", "failure", "last_checked_at"}
#: Exception class names and library names a client must never see.
INTERNAL_WORDS = re.compile(
    r"Traceback|botocore|urllib3|ConnectionRefused|EndpointConnection|"
    r"\b[A-Z][A-Za-z]+(Error|Exception)\b"
)
SECRET_BUCKET = "spam-contract-secret-bucket"
SECRET_PREFIX = "hidden-registry-prefix/"


def call(client: Any, method: str, path: str, body: Any) -> Any:
    return post(client, path, body) if method == "POST" else client.http.get(path)


def assert_error(response: Any, status: int, code: str, *, names: tuple[str, ...] = ()) -> dict:
    """The contract every error answers with; returns the body for route-specific checks."""
    assert response.status_code == status, (response.status_code, response.body)
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]
    assert headers.get("X-Request-Id")
    body = body_of(response)
    assert body["status"] == ("unavailable" if status == 503 else "error"), body
    assert body["Code"] == code and isinstance(body["Message"], str) and body["Message"], body
    if status == 503:
        assert int(headers["Retry-After"]) >= 1, headers
    else:
        assert "Retry-After" not in headers, headers
    text = json.dumps(body)
    for name in names:
        assert name not in text, (name, body)
    said = json.dumps({k: v for k, v in body.items() if k != "Code"})  # Code is the class's
    assert not INTERNAL_WORDS.search(said), body
    return body


def assert_shape(path: str, body: dict) -> None:
    extra = HEALTH_KEYS if path == "/health" else set()
    assert set(body) == ERROR_KEYS | extra, (path, sorted(body))
    if path == "/health":
        assert body["ready"] is False and body["model_version"] is None
        assert body["reason"] and body["reason"] in body["Message"]


@pytest.fixture
def s3_down_client(bare_client, make_runtime):
    """The app with its S3 endpoint on a port nothing listens on: S3 down at cold start."""
    s3, port = unreachable_s3()
    make_runtime(s3=s3, model_bucket=SECRET_BUCKET, model_prefix=SECRET_PREFIX)
    return bare_client, port


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
def test_s3_down_is_the_same_503_on_every_route(s3_down_client, caplog, method, path, body) -> None:
    client, port = s3_down_client
    response = call(client, method, path, body)
    names = (SECRET_BUCKET, SECRET_PREFIX, "current.json", str(port), "127.0.0.1")
    got = assert_error(response, 503, "ServiceUnavailableError", names=names)
    assert_shape(path, got)
    assert "S3 did not answer" in got["Message"] and "Retry in" in got["Message"]
    if path == "/health":
        assert got["failure"]["kind"] == "registry_unavailable"
        assert set(got["failure"]) == {"kind", "message", "version", "at"}
    # what the client was not told is in the log, under the request id
    assert SECRET_BUCKET in caplog.text
    assert f"request {response.headers['X-Request-Id']} answered 503" in caplog.text


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
def test_nothing_published_is_the_same_503_on_every_route(
    bare_client, make_runtime, bucket, method, path, body
) -> None:
    make_runtime()
    response = call(bare_client, method, path, body)
    got = assert_error(response, 503, "ServiceUnavailableError", names=(bucket, "current.json"))
    assert_shape(path, got)
    assert "no model has been published" in got["Message"]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[r[1] for r in ROUTES])
def test_not_configured_is_a_500_without_retry_after_on_every_route(
    bare_client, monkeypatch, caplog, method, path, body
) -> None:
    """A bad setting: retrying cannot help, so not a 503; the log names the variable."""
    monkeypatch.setenv("EXPLAIN_TOP_N", "lots")  # read when the settings are first needed
    from chalicelib.runtime import reset_runtime

    reset_runtime()
    response = call(bare_client, method, path, body)
    got = assert_error(response, 500, "NotConfiguredError", names=("EXPLAIN_TOP_N", "lots"))
    assert set(got) == ERROR_KEYS  # /health adds its fields to 503s only
    assert "EXPLAIN_TOP_N" in caplog.text
    assert f"request {response.headers['X-Request-Id']} answered 500" in caplog.text
    reset_runtime()


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/predict", b"{nope", 400, "BadRequestError"),
        ("/predict", {"text": ""}, 400, "BadRequestError"),
        ("/predict", {"text": "a" * 20_001}, 413, "PayloadTooLargeError"),
        ("/predict/batch", {"texts": "one"}, 400, "BadRequestError"),
        ("/predict/batch", {"texts": ["a"] * 101}, 413, "PayloadTooLargeError"),
    ],
)
def test_bad_input_errors_have_the_common_shape(api_client, path, body, status, code) -> None:
    got = assert_error(post(api_client, path, body), status, code)
    assert set(got) == ERROR_KEYS


def test_chalice_own_errors_have_the_common_shape(api_client) -> None:
    """405 and 415 are Chalice's answers, given the API's envelope by the middleware."""
    wrong_method = assert_error(api_client.http.get("/predict"), 405, "MethodNotAllowedError")
    assert set(wrong_method) == ERROR_KEYS
    wrong_type = api_client.http.post(
        "/predict", headers={"Content-Type": "text/plain"}, body=b"hello"
    )
    assert wrong_type.status_code == 415
    assert set(body_of(wrong_type)) == ERROR_KEYS
    assert body_of(wrong_type)["status"] == "error"
    assert wrong_type.headers["Access-Control-Allow-Origin"] == "*"


def test_parsing_a_request_or_answering_an_error_loads_no_model_code() -> None:
    """``errors`` is a leaf: importing it (or ``validation``) pulls no domain, nor numpy."""
    heavy = ("numpy", "sklearn", "chalicelib.model", "chalicelib.holder", "chalicelib.feedback")
    code = (
        "import sys, chalicelib.validation, chalicelib.errors\n"
        f"print(sorted(m for m in sys.modules if m in {heavy!r}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(API_DIR)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]"

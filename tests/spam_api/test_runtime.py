"""The module-level loader: eager in Lambda, lazy under the chalice CLI, never crashing."""

from __future__ import annotations

import pytest
from chalicelib import runtime as rt
from chalicelib.settings import Settings

from .conftest import body_of, post


@pytest.fixture(autouse=True)
def _clean_runtime():
    rt.reset_runtime()
    yield
    rt.reset_runtime()


def test_warm_start_does_nothing_under_the_chalice_cli(monkeypatch) -> None:
    monkeypatch.setenv("AWS_CHALICE_CLI_MODE", "true")
    monkeypatch.setenv("MODEL_BUCKET", "spam-models-anywhere")
    monkeypatch.setattr(rt, "build_runtime", lambda *a, **k: pytest.fail("built a runtime"))
    assert rt.warm_start() is False


def test_warm_start_without_a_bucket_does_not_raise(monkeypatch) -> None:
    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    monkeypatch.delenv("MODEL_BUCKET", raising=False)
    assert rt.warm_start() is False


def test_warm_start_loads_at_cold_start(monkeypatch, s3_endpoint, bucket, published) -> None:
    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    monkeypatch.setenv("MODEL_BUCKET", bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)  # boto3 honours it by itself
    assert rt.warm_start() is True
    assert rt.get_runtime().holder.state.live.version == published.version


def test_warm_start_with_s3_down_logs_and_leaves_a_503(monkeypatch) -> None:
    from stack.local.services import free_port

    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    monkeypatch.setenv("MODEL_BUCKET", "spam-models-down")
    monkeypatch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("S3_MAX_ATTEMPTS", "1")
    assert rt.warm_start() is False
    state = rt.get_runtime().holder.state
    assert state.live is None and state.failure.kind == "registry_unavailable"


def test_app_without_configuration_answers_500_not_configured(
    bare_client, monkeypatch, caplog
) -> None:
    """Not a "retry shortly" 503: an operator must set MODEL_BUCKET, so no Retry-After."""
    # The client applies the local stage's variables (which set MODEL_BUCKET), so make
    # building the runtime fail the way a missing MODEL_BUCKET does.
    monkeypatch.setattr(rt, "build_runtime", lambda *a, **k: Settings().require_bucket())
    response = post(bare_client, "/predict", {"text": "hi"})
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = body_of(response)
    assert body["status"] == "error" and body["Code"] == "NotConfiguredError"
    assert "not configured" in body["Message"] and "MODEL_BUCKET" not in body["Message"]
    assert "MODEL_BUCKET" in caplog.text  # the log names the variable, with the request id
    assert response.headers["X-Request-Id"] in caplog.text
    health = bare_client.http.get("/health")
    hbody = body_of(health)
    assert health.status_code == 500 and hbody["Code"] == "NotConfiguredError"

"""The real `chalice local --stage local --no-autoreload` against a moto server, over HTTP."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests

from stack.local.services import chalice_local, moto_server
from trainer.registry import publish

from .conftest import API_DIR, PREFIX

ORIGIN = "http://127.0.0.1:8765"
LOCAL = json.loads((API_DIR / ".chalice" / "config.json").read_text())["stages"]["local"]
BUCKET = LOCAL["environment_variables"]["MODEL_BUCKET"]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_api(tmp_path_factory, bundle):
    """A private moto server with the local stage's bucket and a model, and chalice local."""
    tmp_path = tmp_path_factory.mktemp("chalice-local")
    with moto_server(log_dir=tmp_path) as s3_service:
        s3 = boto3.client("s3", endpoint_url=s3_service.url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        manifest = publish(s3, BUCKET, PREFIX, bundle)
        with chalice_local(s3_service.url, log_dir=tmp_path) as api:
            yield api, manifest


def test_preflight_and_cross_origin_post(local_api) -> None:
    api, manifest = local_api
    preflight = requests.options(
        f"{api.url}/predict",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()

    response = requests.post(
        f"{api.url}/predict",
        json={"text": "URGENT! You have won a FREE prize, call now to claim", "explain": True},
        headers={"Origin": ORIGIN},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["classification"] == "SPAM"
    assert body["model_version"] == manifest.version
    assert body["explanation"] and body["explanation"][0]["weight"] > 0


def test_errors_over_http_are_json_with_cors(local_api) -> None:
    api, _ = local_api
    for response, status, code in (
        (
            requests.post(
                f"{api.url}/predict", data=b"{nope", headers={"Origin": ORIGIN}, timeout=30
            ),
            400,
            "BadRequestError",
        ),
        (
            requests.post(
                f"{api.url}/predict",
                data="hello",
                headers={"Origin": ORIGIN, "Content-Type": "text/plain"},
                timeout=30,
            ),
            415,
            "UnsupportedMediaType",
        ),
        (
            requests.post(f"{api.url}/predict", json={"text": "a" * 20_001}, timeout=30),
            413,
            "PayloadTooLargeError",
        ),
    ):
        assert (response.status_code, response.json()["Code"]) == (status, code), response.text
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.json()["status"] == "error"


def test_concurrent_requests_get_their_own_answers(local_api) -> None:
    """chalice local is threaded and keeps one app object: answers must not cross over."""
    api, manifest = local_api
    texts = [f"message number {i} about lunch" for i in range(60)]

    def ask(text: str) -> dict:
        response = requests.post(f"{api.url}/predict", json={"text": text}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=4) as pool:  # chalice local's listen backlog is 5
        answers = list(pool.map(ask, texts))
    assert [a["input_text"] for a in answers] == texts
    assert {a["model_version"] for a in answers} == {manifest.version}
    health = requests.get(f"{api.url}/health", timeout=30).json()
    assert health["status"] == "ok"

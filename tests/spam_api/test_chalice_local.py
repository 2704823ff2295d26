"""The real `chalice local --stage local --no-autoreload` against a moto server, over HTTP.

Its metric lines are read back from its stdout, in the log the service helper writes.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests
from chalicelib.metrics_format import (
    FEEDBACK_HAM,
    FEEDBACK_SPAM,
    MESSAGES_SCORED,
    REQUESTS,
    SPAM_VERDICTS,
    STATUS_4XX,
    STATUS_5XX,
)

from stack.local.services import chalice_local, moto_server
from trainer.registry import publish

from .conftest import API_DIR, PREFIX
from .emf_check import read_lines, total

ORIGIN = "http://127.0.0.1:8765"
LOCAL = json.loads((API_DIR / ".chalice" / "config.json").read_text())["stages"]["local"]
BUCKET = LOCAL["environment_variables"]["MODEL_BUCKET"]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    """Where the module's servers write their output (chalice local's: ``chalice-<port>.log``)."""
    return tmp_path_factory.mktemp("chalice-local")


@pytest.fixture(scope="module")
def local_api(log_dir, bundle):
    """A private moto server with the local stage's bucket and a model, and chalice local."""
    tmp_path = log_dir
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


def test_its_metric_lines_count_what_was_sent(local_api, log_dir) -> None:
    """The lines in chalice local's stdout: valid EMF, one set per answer, texts nowhere.

    Requests go on four threads at once, as chalice local serves them; every line must
    still be whole and say what its own answer did.
    """
    api, manifest = local_api
    log = log_dir / f"chalice-{api.port}.log"
    start = log.stat().st_size
    marker = "Qwzxmarkerlocal"
    texts = [f"{marker} number {i}: WIN a FREE prize, call now" for i in range(12)]
    requests_sent = (
        [("POST", "/predict", {"text": text}) for text in texts]
        + [("POST", "/predict/batch", {"texts": texts[:5]})] * 2
        + [("POST", "/feedback", {"text": texts[0], "label": lb}) for lb in ("spam", "ham", "ham")]
        + [("POST", "/predict", {"text": ""}), ("POST", "/feedback", {"text": marker})]
        + [("GET", "/predict", None), ("GET", "/health", None)]
    )  # fmt: skip

    def send(request: tuple) -> dict:
        method, path, body = request
        response = requests.request(method, f"{api.url}{path}", json=body, timeout=60)
        return {"path": path, "status": response.status_code, "body": response.json()}

    with ThreadPoolExecutor(max_workers=4) as pool:  # chalice local's listen backlog is 5
        answered = list(pool.map(send, requests_sent))
    statuses = [a["status"] for a in answered]
    assert statuses.count(200) == 12 + 2 + 1 and statuses.count(202) == 3, statuses
    assert sorted(s for s in statuses if s >= 400) == [400, 400, 405], statuses

    new = log.read_bytes()[start:].decode("utf-8")
    lines = read_lines(new)
    assert len(lines) == len(requests_sent)  # no batch here is over 100 messages
    assert {line.dimensions["Stage"] for line in lines} == {
        LOCAL["environment_variables"]["STAGE_NAME"]
    }
    for path in ("/predict", "/predict/batch", "/feedback", "/health"):
        sent = sum(1 for _, p, _ in requests_sent if p == path)
        assert total(lines, REQUESTS, Route=path) == sent, path
    assert total(lines, STATUS_4XX) == 3 and total(lines, STATUS_5XX) == 0
    assert total(lines, MESSAGES_SCORED) == 12 + 2 * 5
    verdicts = [
        a["body"]["classification"]
        for a in answered
        if a["path"] == "/predict" and a["status"] == 200
    ]
    verdicts += [
        r["classification"]
        for a in answered
        if a["path"] == "/predict/batch"
        for r in a["body"]["results"]
    ]
    assert total(lines, SPAM_VERDICTS) == verdicts.count("SPAM")
    assert total(lines, FEEDBACK_SPAM) == 1 and total(lines, FEEDBACK_HAM) == 2
    assert total(lines, MESSAGES_SCORED, ModelVersion=manifest.version) == 22
    assert marker not in new  # nowhere in its output, metric lines or not

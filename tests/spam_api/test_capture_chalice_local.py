"""Capture through the real ``chalice local --stage local``, its rates set in the shell.

The ``local`` stage sets no ``CAPTURE_*`` variable, so the environment ``chalice local``
is started with decides (as ``make demo``'s and an outside checker's). Its request id is
the one its Lambda context makes up (``aws_request_id``, a uuid4), which the client gets
in ``X-Request-Id``: every decision is predicted from that header, and each record names it.
"""

from __future__ import annotations

import json

import boto3
import pytest
import requests
from chalicelib.capture_format import capture_stratum
from chalicelib.metrics_format import CAPTURE_FAILURES, CAPTURE_WRITES, DEFAULT_UNCERTAINTY_BAND

from stack.local.services import chalice_local, moto_server
from tests.support import stored_records
from trainer.registry import publish

from .conftest import API_DIR, PREFIX
from .emf_check import read_lines, total

LOCAL = json.loads((API_DIR / ".chalice" / "config.json").read_text())["stages"]["local"]
BUCKET = LOCAL["environment_variables"]["MODEL_BUCKET"]
RATES = {"CAPTURE_RATE": "0.3", "CAPTURE_UNCERTAIN_RATE": "1"}

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def capturing_api(tmp_path_factory, bundle):
    """A private moto server with the local stage's bucket and a model, and chalice local
    started with capture rates in its environment; yields ``(api, s3, manifest, log)``."""
    logs = tmp_path_factory.mktemp("capture-chalice-local")
    with moto_server(log_dir=logs) as s3_service:
        s3 = boto3.client("s3", endpoint_url=s3_service.url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        manifest = publish(s3, BUCKET, PREFIX, bundle)
        with chalice_local(s3_service.url, env=RATES, log_dir=logs) as api:
            yield api, s3, manifest, logs / f"chalice-{api.port}.log"


def _records(s3) -> dict[str, dict[int, object]]:
    """The pending records, by request id and position."""
    found: dict[str, dict[int, object]] = {}
    for record in stored_records(s3, BUCKET, "capture/pending/").values():
        found.setdefault(record.request_id, {})[record.position] = record
    return found


def test_the_shells_rates_reach_chalice_local_and_each_decision_follows_the_request_id(
    capturing_api,
) -> None:
    api, s3, manifest, log = capturing_api
    health = requests.get(f"{api.url}/health", timeout=30).json()
    assert health["capture"] == {"enabled": True, "retention_days": 30}

    answers = []
    for n in range(12):
        response = requests.post(
            f"{api.url}/predict", json={"text": f"call me back about lunch, {n}"}, timeout=30
        )
        answers.append((response, [response.json()["spam_probability"]]))
    batch = [f"WINNER {n}! claim your prize" if n % 2 else f"see you at {n}" for n in range(20)]
    response = requests.post(f"{api.url}/predict/batch", json={"texts": batch}, timeout=30)
    answers.append((response, [r["spam_probability"] for r in response.json()["results"]]))

    records = _records(s3)
    expected_total = 0
    for response, probabilities in answers:
        assert response.status_code == 200, response.text
        rid = response.headers["X-Request-Id"]
        expected = {}
        for position, p in enumerate(probabilities):
            stratum = capture_stratum(
                rid,
                position,
                spam_probability=p,
                threshold=manifest.threshold,
                band=DEFAULT_UNCERTAINTY_BAND,
                rate=0.3,
                uncertain_rate=1.0,
            )
            if stratum:
                expected[position] = stratum
        kept = records.get(rid, {})
        assert {position: r.stratum for position, r in kept.items()} == expected, rid
        assert all(r.model_version == manifest.version for r in kept.values())
        expected_total += len(expected)
    assert 0 < expected_total == sum(len(kept) for kept in records.values())

    lines = read_lines(log.read_text(encoding="utf-8"))
    assert total(lines, CAPTURE_WRITES, Stage="local") == expected_total
    assert total(lines, CAPTURE_FAILURES, Stage="local") == 0

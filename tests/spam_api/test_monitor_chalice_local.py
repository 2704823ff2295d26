"""``trainer monitor --log`` on the log of a real ``chalice local``: counts equal what was sent.

Every answer writes its EMF lines to stdout (issue 23); ``stack.local.services`` captures
``chalice local``'s stdout in its log file, the file ``make demo`` names. The model's
reference is read from the registry it was published to (moto over HTTP), so the whole
chain runs: publish, serve, emit, read back, test.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import boto3
import pytest
import requests
from chalicelib.metrics_format import DEFAULT_UNCERTAINTY_BAND, is_uncertain, parse_emf_line

from stack.local.services import chalice_local, moto_server
from trainer.cli import EXIT_OK, main
from trainer.registry import publish
from trainer.shift import Reference, two_proportion_test

from .conftest import API_DIR, PREFIX

LOCAL = json.loads((API_DIR / ".chalice" / "config.json").read_text())["stages"]["local"]
BUCKET = LOCAL["environment_variables"]["MODEL_BUCKET"]
REFERENCE = Reference(rate=0.13, n=1032)

SPAM = [
    "WINNER!! You have won a free prize, call 09061701461 now to claim",
    "URGENT! Your mobile number has been awarded a 2000 cash prize. Txt CLAIM to 81010",
    "Free entry in a weekly competition to win FA Cup tickets, text WIN to 87121",
    "Congratulations! You've been selected for a free holiday. Call now, 150p/min",
    "Claim your free ringtone now! Reply YES to 85023. Std txt rates apply",
]
HAM = [
    "Are we still on for lunch tomorrow?",
    "I'll be home late tonight, don't wait up",
    "Can you pick up some milk on the way back",
    "Thanks for yesterday, it was lovely to see you",
    "Sorry I missed your call, will ring you after the meeting",
    "Ok see you at 7 then",
]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(tmp_path_factory, bundle):
    """A private moto S3 with a model whose summary holds a reference, and chalice local."""
    log_dir = tmp_path_factory.mktemp("monitor-chalice-local")
    summary = {
        "predicted_spam_rate": REFERENCE.rate,
        "holdout_messages": REFERENCE.n,
        **bundle.metrics_summary,
    }
    with moto_server(log_dir=log_dir) as s3_service:
        s3 = boto3.client("s3", endpoint_url=s3_service.url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        manifest = publish(s3, BUCKET, PREFIX, replace(bundle, metrics_summary=summary))
        with chalice_local(s3_service.url, log_dir=log_dir) as api:
            yield api, manifest, s3_service.url, log_dir / f"chalice-{api.port}.log"


def _monitor(log, s3_url: str, *argv: str, capsys) -> tuple[int, dict | str]:
    registry = ["--bucket", BUCKET, "--endpoint-url", s3_url]
    code = main(["monitor", "--log", str(log), "--json", *registry, *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == EXIT_OK else err


def test_monitor_counts_what_chalice_local_answered(served, capsys) -> None:
    api, manifest, s3_url, log = served
    answers = []
    for text in SPAM + HAM + SPAM + HAM:  # 22 messages, one request each
        response = requests.post(f"{api.url}/predict", json={"text": text}, timeout=30)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    batch = requests.post(
        f"{api.url}/predict/batch", json={"texts": SPAM[:3] + HAM[:2]}, timeout=30
    )
    assert batch.status_code == 200, batch.text
    scored = [a["spam_probability"] for a in answers] + [
        r["spam_probability"] for r in batch.json()["results"]
    ]
    verdicts = [a["classification"] for a in answers] + [
        r["classification"] for r in batch.json()["results"]
    ]
    bad = requests.post(f"{api.url}/predict", json={"text": ""}, timeout=30)
    assert bad.status_code == 400
    report = requests.post(
        f"{api.url}/feedback",
        json={"text": HAM[0], "label": "ham", "model_version": manifest.version},
        timeout=30,
    )
    assert report.status_code == 202, report.text

    threshold = manifest.threshold
    expected_routes = {
        "/predict": (23, 1, 0),  # requests, 4xx, 5xx
        "/predict/batch": (1, 0, 0),
        "/feedback": (1, 0, 0),
    }

    def routes(found: dict) -> dict:
        by_route = {r["route"]: r for r in found["routes"]}
        return {
            name: (r["requests"], r["errors_4xx"], r["errors_5xx"])
            for name, r in by_route.items()
            if name in expected_routes
        }

    def counted() -> tuple[int, dict | str]:
        return _monitor(log, s3_url, "--stage", "local", "--window", "27", capsys=capsys)

    # the server writes each answer's lines as it answers: give the last ones time to land
    deadline = time.monotonic() + 15
    code, found = counted()
    while (code != EXIT_OK or routes(found) != expected_routes) and time.monotonic() < deadline:
        time.sleep(0.2)
        code, found = counted()
    assert code == EXIT_OK, found
    assert isinstance(found, dict) and routes(found) == expected_routes
    (row,) = [v for v in found["versions"] if v["model_version"] == manifest.version]
    spam = verdicts.count("SPAM")
    assert 0 < spam < 27
    assert row["messages"] == 27
    assert row["spam_rate"] == pytest.approx(spam / 27)
    # each line carries its probabilities rounded to 4 decimals (small lines): so does the mean
    assert row["mean_spam_probability"] == pytest.approx(sum(scored) / 27, abs=5e-5)
    uncertain = sum(is_uncertain(p, threshold, DEFAULT_UNCERTAINTY_BAND) for p in scored)
    assert row["uncertain_share"] == pytest.approx(uncertain / 27)
    assert row["feedback_reports"] == 1
    assert row["shift"] == two_proportion_test(REFERENCE, spam, 27).as_dict()
    by_route = {r["route"]: r for r in found["routes"]}
    for name in expected_routes:
        assert by_route[name]["latency_ms_p50"] > 0, name
        assert by_route[name]["latency_ms_p99"] >= by_route[name]["latency_ms_p50"], name
    # no text, nor a part of one, in any metrics line
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    emf = [line for line in lines if parse_emf_line(line) is not None]
    assert emf and not [line for line in emf if "WINNER" in line or "lunch" in line]

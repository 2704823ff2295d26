"""``POST /feedback``: a person's report stored for review, against moto over HTTP.

What is stored (and what is not), where (only under the pending prefix), never over
another object, with /predict's limits and error contract, with S3 down, with the route
turned off, and through both S3 clients the API can use.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from chalicelib import feedback as feedback_module
from chalicelib.feedback_format import parse_report, parse_report_key, report_key
from chalicelib.s3_client import AwsEnvironment
from chalicelib.s3_http import HttpS3Client
from chalicelib.settings import Settings

from .conftest import PREFIX, body_of, post, recorded_calls, unreachable_s3
from .test_error_contract import ERROR_KEYS, assert_error
from .test_feedback_format import STORED_FIELDS

SPAM = "WINNER!! Claim your free prize now, reply YES"
HAM = "See you at lunch tomorrow, usual place"
FEEDBACK = "feedback/"
#: A report id whose key already holds another object (a collision).
TAKEN = "20261126T101500Z-0123456789abcdef"
SOMEONE_ELSES = b"someone else's report"


def pending_keys(s3: Any, bucket: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=FEEDBACK)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def stored(s3: Any, bucket: str, key: str):
    return parse_report(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def take_key(s3: Any, bucket: str) -> str:
    """Put someone else's object where the report ``TAKEN`` would go; returns its key."""
    key = report_key(FEEDBACK, "pending", TAKEN)
    s3.put_object(Bucket=bucket, Key=key, Body=SOMEONE_ELSES)
    return key


def test_a_report_is_stored_with_the_live_verdict_and_nothing_about_the_sender(
    api_client, s3_client, bucket, published
) -> None:
    verdict = body_of(post(api_client, "/predict", {"text": HAM}))
    response = post(
        api_client,
        "/feedback",
        {
            "text": HAM,
            "label": "spam",
            "model_version": verdict["model_version"],
            "request_id": "3f2a-request-1",
        },
        headers={"User-Agent": "secret-agent/1.0", "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 202, response.body
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers.get("X-Request-Id")
    body = body_of(response)
    assert body["status"] == "accepted" and body["retention_days"] == 30
    assert "review" in body["message"] and "30 days" in body["message"]

    (key,) = pending_keys(s3_client, bucket)
    assert parse_report_key(FEEDBACK, key) == ("pending", body["id"])
    assert key == report_key(FEEDBACK, "pending", body["id"])
    report = stored(s3_client, bucket, key)
    assert report.text == HAM and report.label == "spam" and report.decision is None
    assert report.verdict.model_version == published.version
    assert report.verdict.classification == verdict["classification"]
    assert report.verdict.spam_probability == pytest.approx(verdict["spam_probability"])
    assert report.corrected_version == published.version
    assert report.corrected_request_id == "3f2a-request-1"
    assert report.disagreed == (verdict["classification"] == "HAM")
    raw = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert "secret-agent" not in raw and "203.0.113.9" not in raw
    assert set(json.loads(raw)) == STORED_FIELDS


def test_without_a_model_the_report_is_still_taken(bare_client, make_runtime, s3_client, bucket):
    make_runtime()  # nothing published
    response = post(bare_client, "/feedback", {"text": SPAM, "label": "spam"})
    assert response.status_code == 202, response.body
    (key,) = pending_keys(s3_client, bucket)
    assert stored(s3_client, bucket, key).verdict is None


def test_a_report_never_waits_for_a_model_that_is_loading(
    bare_client, make_runtime, s3_client, bucket, published
) -> None:
    """A load stuck in the registry (holding the holder's lock) does not hold a report up."""
    runtime = make_runtime()
    runtime.holder.wait_seconds = 600  # a report that waited for the load would hang here
    loading, release = threading.Event(), threading.Event()
    fetch = runtime.holder.reader.fetch_pointer
    checks = []

    def stuck(**kwargs):
        checks.append(1)
        loading.set()
        release.wait(60)
        return fetch(**kwargs)

    runtime.holder.reader.fetch_pointer = stuck
    loader = threading.Thread(target=runtime.holder.load, daemon=True)
    answered: dict[str, Any] = {}
    reporter = threading.Thread(
        target=lambda: answered.update(
            response=post(bare_client, "/feedback", {"text": SPAM, "label": "spam"})
        ),
        daemon=True,
    )
    loader.start()
    try:
        assert loading.wait(30), "the load never reached the registry"
        reporter.start()
        reporter.join(30)
        assert not reporter.is_alive(), "the report waited for the model being loaded"
        assert loader.is_alive()  # still stuck: the report was answered without it
    finally:
        release.set()
        loader.join(30)
    assert answered["response"].status_code == 202, answered["response"].body
    (key,) = pending_keys(s3_client, bucket)
    assert stored(s3_client, bucket, key).verdict is None
    assert checks == [1]  # the report started no load of its own
    assert runtime.holder.live_now() is not None  # the stuck load then finished


def test_a_report_uses_the_loaded_model_without_checking_the_registry(
    api_client, s3_client, bucket, published, clock
) -> None:
    from chalicelib.runtime import get_runtime

    assert post(api_client, "/predict", {"text": SPAM}).status_code == 200  # loads the model
    holder = get_runtime().holder
    clock.advance(holder.refresh_seconds + 1)  # a check is due: /predict would make it
    checks = []
    fetch = holder.reader.fetch_pointer
    holder.reader.fetch_pointer = lambda **kwargs: checks.append(1) or fetch(**kwargs)
    response = post(api_client, "/feedback", {"text": SPAM, "label": "ham"})
    assert response.status_code == 202, response.body
    (key,) = pending_keys(s3_client, bucket)
    verdict = stored(s3_client, bucket, key).verdict
    assert verdict.model_version == published.version and verdict.classification == "SPAM"
    assert checks == []


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"text": SPAM}, 400, "BadRequestError", '"label" must be "spam" or "ham", got nothing'),
        ({"text": SPAM, "label": "SPAM!"}, 400, "BadRequestError", '"label" must be'),
        ({"text": SPAM, "label": 1}, 400, "BadRequestError", '"label" must be'),
        ({"label": "spam"}, 400, "BadRequestError", 'no "text" field'),
        ({"text": "   ", "label": "ham"}, 400, "BadRequestError", "blank"),
        ({"text": "a" * 20_001, "label": "ham"}, 413, "PayloadTooLargeError", "limit is 20000"),
        ({"text": SPAM, "label": "spam", "model_version": "../x"}, 400, "BadRequestError", ""),
        ({"text": SPAM, "label": "spam", "request_id": "r" * 129}, 400, "BadRequestError", ""),
        (b"{not json", 400, "BadRequestError", "not valid JSON"),
        (b"[1, 2]", 400, "BadRequestError", "JSON object"),
    ],
)
def test_bad_reports_are_refused_like_predict_and_nothing_is_stored(
    api_client, s3_client, bucket, body, status, code, words
) -> None:
    got = assert_error(post(api_client, "/feedback", body), status, code)
    assert set(got) == ERROR_KEYS and words in got["Message"]
    assert pending_keys(s3_client, bucket) == []


def test_a_body_over_the_limit_is_refused_before_parsing(api_client, s3_client, bucket) -> None:
    huge = b'{"label": "spam", "text": "' + b"x" * 1_100_000 + b'"}'
    assert_error(post(api_client, "/feedback", huge), 413, "PayloadTooLargeError")
    assert pending_keys(s3_client, bucket) == []


def test_wrong_content_type_is_415(api_client) -> None:
    response = api_client.http.post(
        "/feedback", headers={"Content-Type": "text/plain"}, body=b"spam"
    )
    assert response.status_code == 415 and body_of(response)["status"] == "error"


def test_turned_off_the_route_says_so_and_stores_nothing(
    bare_client, make_runtime, s3_client, bucket, published
) -> None:
    make_runtime(feedback_enabled=False)
    got = assert_error(
        post(bare_client, "/feedback", {"text": SPAM, "label": "spam"}),
        403,
        "FeedbackDisabledError",
    )
    assert "turned off" in got["Message"]
    assert pending_keys(s3_client, bucket) == []
    assert post(bare_client, "/predict", {"text": SPAM}).status_code == 200  # the rest serves


def test_s3_down_is_a_503_that_says_the_report_was_not_stored(
    bare_client, make_runtime, caplog
) -> None:
    s3_down, port = unreachable_s3()
    make_runtime(s3=s3_down, model_bucket="spam-feedback-down")
    response = post(bare_client, "/feedback", {"text": SPAM, "label": "spam"})
    got = assert_error(
        response, 503, "ServiceUnavailableError", names=("spam-feedback-down", str(port))
    )
    assert "not stored" in got["Message"] and "send it again" in got["Message"]
    assert "spam-feedback-down/feedback/pending/" in caplog.text  # the log says where


def test_a_taken_key_is_never_overwritten(
    api_client, s3_client, bucket, published, monkeypatch
) -> None:
    """The PUT is a conditional create: a colliding id gets a new one, the old object stays."""
    key = take_key(s3_client, bucket)
    ids = iter([TAKEN, "20261126T101500Z-fedcba9876543210"])
    monkeypatch.setattr(feedback_module, "new_report_id", lambda now: next(ids))
    response = post(api_client, "/feedback", {"text": SPAM, "label": "spam"})
    assert response.status_code == 202, response.body
    assert body_of(response)["id"] == "20261126T101500Z-fedcba9876543210"
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == SOMEONE_ELSES
    assert len(pending_keys(s3_client, bucket)) == 2


def test_two_taken_keys_in_a_row_are_a_503_and_nothing_is_overwritten(
    api_client, s3_client, bucket, published, monkeypatch
) -> None:
    key = take_key(s3_client, bucket)
    monkeypatch.setattr(feedback_module, "new_report_id", lambda now: TAKEN)
    response = post(api_client, "/feedback", {"text": SPAM, "label": "spam"})
    assert_error(response, 503, "ServiceUnavailableError", names=(bucket, key))
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == SOMEONE_ELSES


def _http_client(s3_endpoint: str) -> HttpS3Client:
    aws = AwsEnvironment(
        access_key_id="testing",
        secret_access_key="testing",
        region="us-east-1",
        endpoint_url=s3_endpoint,
    )
    return HttpS3Client(aws, Settings())


@pytest.mark.parametrize("client", ["botocore", "http"])
def test_writes_only_under_the_pending_prefix_with_either_s3_client(
    bare_client, make_runtime, s3_endpoint, s3_client, bucket, published, client
) -> None:
    """The API's only write: one conditional PUT under ``feedback/pending/``, nothing read."""
    if client == "http":
        api_s3: Any = _http_client(s3_endpoint)
    else:
        api_s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    calls = recorded_calls(api_s3)
    make_runtime(s3=api_s3)
    assert post(bare_client, "/predict", {"text": SPAM}).status_code == 200
    calls.clear()  # what the model load read is the registry tests' business
    response = post(bare_client, "/feedback", {"text": SPAM, "label": "ham"})
    assert response.status_code == 202, response.body
    assert calls == [("PutObject", report_key(FEEDBACK, "pending", body_of(response)["id"]), "*")]
    assert pending_keys(s3_client, bucket)[0].startswith(f"{FEEDBACK}pending/")
    assert not any(k.startswith(PREFIX) for k in pending_keys(s3_client, bucket))

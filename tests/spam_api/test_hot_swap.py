"""Loading and hot swap seen through the routes, in process: the refresh interval, a version
refused once and not fetched again, a deleted live manifest, the legacy layout, bad input
with no model (the 503 with nothing published is test_error_contract.py's, on every route).

Each swap behaviour is tested once: a broken new version and S3 down at cold start are in
``tests/reliability/test_faults.py``, publishes and a rollback under concurrent load (every
answer recomputed) in ``tests/reliability/test_swaps_under_load.py``.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sklearn
from chalicelib.registry_format import current_key, live_key
from sklearn.linear_model import LogisticRegression

from trainer.registry import publish

from .conftest import PREFIX, body_of, make_bundle, post, put_legacy

TEXT = {"text": "Congratulations! You won a free cruise, reply YES to claim"}


def version_of(client) -> str:
    response = post(client, "/predict", TEXT)
    assert response.status_code == 200, response.body
    return body_of(response)["model_version"]


@pytest.fixture(scope="session")
def second_bundle(fitted):
    """A different model (another C), so its answers differ from the first one's."""
    classifier = LogisticRegression(C=0.5, solver="liblinear")
    classifier.fit(fitted.vectorizer.transform(fitted.texts), fitted.labels)
    return make_bundle(fitted.vectorizer, classifier, threshold=0.4)


def publish_at(s3_client, bucket, bundle, clock):
    from datetime import UTC, datetime

    clock.advance(1)  # versions are named by time: never two in the same second
    return publish(s3_client, bucket, PREFIX, bundle, now=datetime.fromtimestamp(clock(), UTC))


def test_new_version_is_served_after_the_refresh_interval(
    api_client, published, s3_client, bucket, second_bundle, clock
) -> None:
    assert version_of(api_client) == published.version
    second = publish_at(s3_client, bucket, second_bundle, clock)
    clock.advance(10)
    assert version_of(api_client) == published.version  # not due yet: no S3 call
    clock.advance(25)
    assert version_of(api_client) == second.version
    body = body_of(post(api_client, "/predict", TEXT))
    assert body["threshold"] == 0.4
    assert body_of(api_client.http.get("/health"))["model_version"] == second.version


def test_interval_zero_checks_on_every_request(
    bare_client, make_runtime, published, s3_client, bucket, second_bundle, clock
) -> None:
    make_runtime(model_refresh_seconds=0)
    assert version_of(bare_client) == published.version
    second = publish_at(s3_client, bucket, second_bundle, clock)
    assert version_of(bare_client) == second.version


def test_a_refused_version_is_not_downloaded_again(
    bare_client, make_runtime, published, s3_client, bucket, second_bundle, clock
) -> None:
    runtime = make_runtime(model_refresh_seconds=0)
    assert version_of(bare_client) == published.version
    publish_at(s3_client, bucket, replace(second_bundle, sklearn_version="1.7.2"), clock)
    assert version_of(bare_client) == published.version
    calls = []
    original = runtime.holder.reader.load
    runtime.holder.reader.load = lambda pointer: calls.append(pointer) or original(pointer)
    for _ in range(3):
        version_of(bare_client)
    assert calls == []


def test_deleting_current_json_keeps_the_registry_model(
    bare_client, make_runtime, published, s3_client, bucket, legacy_pair, caplog
) -> None:
    make_runtime(model_refresh_seconds=0)
    put_legacy(s3_client, bucket, legacy_pair)
    assert version_of(bare_client) == published.version
    s3_client.delete_object(Bucket=bucket, Key=current_key(PREFIX))
    assert version_of(bare_client) == published.version
    assert body_of(bare_client.http.get("/health"))["status"] == "ok"  # its live pointer
    s3_client.delete_object(Bucket=bucket, Key=live_key(PREFIX, sklearn.__version__))
    assert version_of(bare_client) == published.version
    body = body_of(bare_client.http.get("/health"))
    assert body["status"] == "degraded" and "live manifest was deleted" in body["reason"]
    assert "current.json" not in json.dumps(body)  # the key is for the log, not the client
    assert f"{PREFIX}current.json is gone" in caplog.text


def test_legacy_bucket_serves_the_tutorial_model(
    bare_client, make_runtime, s3_client, bucket, legacy_pair
) -> None:
    put_legacy(s3_client, bucket, legacy_pair)
    make_runtime()
    spam = body_of(post(bare_client, "/predict", {"text": "WIN a FREE prize! Call now to claim"}))
    ham = body_of(post(bare_client, "/predict", {"text": "see you at home later, love"}))
    assert spam["model_version"] == "legacy"
    assert (spam["classification"], ham["classification"]) == ("SPAM", "HAM")
    assert spam["threshold"] == 0.5
    info = body_of(bare_client.http.get("/model"))
    assert info["model"]["source"] == "legacy"
    assert info["model"]["labels"] == {"spam": 0, "ham": 1}


def test_bad_input_is_400_even_without_a_model(bare_client, make_runtime) -> None:
    make_runtime()
    assert post(bare_client, "/predict", {"text": ""}).status_code == 400

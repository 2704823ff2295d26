"""Loading, hot swap, failed versions, rollback and outages, seen through the routes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sklearn
from chalicelib.registry_format import current_key, live_key
from sklearn.linear_model import LogisticRegression

from stack.local.services import moto_server
from trainer.registry import publish, rollback

from .conftest import PREFIX, body_of, make_bundle, post, put_legacy, unreachable_s3

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


def test_rollback_is_picked_up(
    bare_client, make_runtime, published, s3_client, bucket, second_bundle, clock
) -> None:
    make_runtime(model_refresh_seconds=0)
    second = publish_at(s3_client, bucket, second_bundle, clock)
    assert version_of(bare_client) == second.version
    rollback(s3_client, bucket, PREFIX, published.version)
    assert version_of(bare_client) == published.version


@pytest.mark.parametrize("fault", ["hash", "sklearn", "truncated", "not-json", "missing"])
def test_a_broken_new_version_never_replaces_the_working_one(
    bare_client, make_runtime, published, s3_client, bucket, second_bundle, clock, fault
) -> None:
    make_runtime(model_refresh_seconds=0)
    assert version_of(bare_client) == published.version
    if fault == "sklearn":
        # A writer from before the live pointers moves current.json to a model of another
        # scikit-learn, and this runtime has no pointer of its own: nothing it can load.
        other = publish_at(
            s3_client, bucket, replace(second_bundle, sklearn_version="1.7.2"), clock
        )
        s3_client.delete_object(Bucket=bucket, Key=live_key(PREFIX, sklearn.__version__))
        s3_client.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=other.to_json())
    elif fault == "not-json":
        s3_client.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=b"{oops")
    else:
        broken = publish_at(s3_client, bucket, second_bundle, clock)
        key = broken.artifacts["model"].key
        if fault == "hash":
            body = bytearray(second_bundle.model_pkl)
            body[-5] ^= 0x55
            s3_client.put_object(Bucket=bucket, Key=key, Body=bytes(body))
        elif fault == "truncated":
            # a manifest that matches truncated bytes: passes the hash, fails to unpickle
            raw = json.loads(broken.to_json())
            short = second_bundle.model_pkl[: len(second_bundle.model_pkl) // 2]
            from chalicelib.registry_format import sha256_hex

            raw["artifacts"]["model"].update(size=len(short), sha256=sha256_hex(short))
            s3_client.put_object(Bucket=bucket, Key=key, Body=short)
            s3_client.put_object(
                Bucket=bucket, Key=current_key(PREFIX), Body=json.dumps(raw).encode()
            )
        else:
            s3_client.delete_object(Bucket=bucket, Key=key)

    for _ in range(3):  # keeps serving, request after request
        assert version_of(bare_client) == published.version
    health = api_health = bare_client.http.get("/health")
    assert health.status_code == 200
    body = body_of(api_health)
    assert body["status"] == "degraded"
    assert body["model_version"] == published.version
    assert body["reason"]
    assert "Traceback" not in json.dumps(body)
    expected_kind = {
        "hash": "integrity",
        "sklearn": "incompatible",
        "truncated": "invalid_model",
        "not-json": "invalid_manifest",
        "missing": "not_found",
    }[fault]
    assert body["failure"]["kind"] == expected_kind
    info = body_of(bare_client.http.get("/model"))
    assert info["status"] == "degraded" and info["failure"]["kind"] == expected_kind
    assert info["model"]["version"] == published.version

    # a good version afterwards clears the failure
    good = publish_at(s3_client, bucket, second_bundle, clock)
    assert version_of(bare_client) == good.version
    assert body_of(bare_client.http.get("/health"))["status"] == "ok"


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


def test_no_model_anywhere_is_503_with_cors_everywhere(bare_client, make_runtime) -> None:
    make_runtime()
    for response in (
        post(bare_client, "/predict", TEXT),
        post(bare_client, "/predict/batch", {"texts": ["a"]}),
        bare_client.http.get("/health"),
        bare_client.http.get("/model"),
    ):
        assert response.status_code == 503
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        body = body_of(response)
        assert body["Code"] == "ServiceUnavailableError"
        assert "no model" in body["Message"]


def test_bad_input_is_400_even_without_a_model(bare_client, make_runtime) -> None:
    make_runtime()
    assert post(bare_client, "/predict", {"text": ""}).status_code == 400


@pytest.mark.integration  # a moto server of its own, started mid-test
def test_s3_down_at_cold_start_is_503_then_recovers_without_restart(
    bare_client, make_runtime, clock, bundle, tmp_path
) -> None:
    s3_down, port = unreachable_s3()
    runtime = make_runtime(s3=s3_down, model_bucket="spam-models-cold", model_retry_seconds=5)
    response = post(bare_client, "/predict", TEXT)
    assert response.status_code == 503
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert int(response.headers["Retry-After"]) >= 1
    body = body_of(response)
    assert "did not answer" in body["Message"]
    assert f":{port}" not in body["Message"]
    health = bare_client.http.get("/health")
    assert health.status_code == 503 and body_of(health)["status"] == "unavailable"

    attempts = []
    original = runtime.holder.reader.fetch_pointer
    runtime.holder.reader.fetch_pointer = lambda **kw: attempts.append(1) or original(**kw)
    assert post(bare_client, "/predict", TEXT).status_code == 503
    assert attempts == []  # within the retry interval: no new S3 attempt, answered at once

    with moto_server(port, log_dir=tmp_path) as service:
        import boto3

        s3 = boto3.client("s3", endpoint_url=service.url, region_name="us-east-1")
        s3.create_bucket(Bucket="spam-models-cold")
        manifest = publish(s3, "spam-models-cold", PREFIX, bundle)
        clock.advance(5)
        assert version_of(bare_client) == manifest.version
        assert body_of(bare_client.http.get("/health"))["status"] == "ok"

"""Only the configured bucket and prefix are read; nothing is unpickled before its hash matched.

The API's S3 client is a separate boto3 client with a botocore hook that records every
operation, bucket and key it sends; ``joblib.load`` is replaced by a spy that records
the sha256 of every byte string it is asked to unpickle.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import boto3
import joblib
import pytest
import sklearn
from chalicelib.registry_format import (
    LEGACY_MODEL_KEY,
    LEGACY_VECTORIZER_KEY,
    ArtifactRef,
    Manifest,
    current_key,
    live_key,
    sha256_hex,
)

from trainer.registry import rollback

from .conftest import HAM, PREFIX, SPAM, check_envelope, dumps, post, record_s3_calls

pytestmark = pytest.mark.integration


@pytest.fixture
def api_s3(s3_endpoint: str):
    """The API's own S3 client (so the recorder sees only what the API sends)."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def unpickled(monkeypatch) -> list[str]:
    """sha256 of every byte string handed to joblib.load (the API's only unpickler)."""
    seen: list[str] = []
    real_load = joblib.load

    def spy(source, *args, **kwargs):
        data = source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()
        seen.append(sha256_hex(data))
        return real_load(source, *args, **kwargs)

    monkeypatch.setattr(joblib, "load", spy)
    return seen


class _Tripwire:
    """Unpickling this creates a directory: proof that the bytes were unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _decoys(s3_client, bucket: str, other_bucket: str, model) -> None:
    """Objects a confused reader might touch: another prefix, a sibling prefix, another bucket."""
    for key in ("other/current.json", "models-old/current.json", "current.json"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"{}")
    s3_client.put_object(Bucket=other_bucket, Key=f"{PREFIX}current.json", Body=b"{}")
    s3_client.put_object(Bucket=bucket, Key="other/spam_model.pkl", Body=model.bundle.model_pkl)


@pytest.fixture
def other_bucket(s3_client, bucket: str):
    name = f"{bucket}-other"[:63]
    s3_client.create_bucket(Bucket=name)
    yield name
    for item in s3_client.list_objects_v2(Bucket=name).get("Contents", []):
        s3_client.delete_object(Bucket=name, Key=item["Key"])
    s3_client.delete_bucket(Bucket=name)


def test_only_the_configured_bucket_and_prefix_are_read(
    make_client, api_s3, s3_client, bucket, other_bucket, models, publish_model, clock
) -> None:
    calls = record_s3_calls(api_s3)
    _decoys(s3_client, bucket, other_bucket, models[0])
    first = publish_model(models[0])
    runtime, client = make_client(s3=api_s3)
    assert check_envelope(*_raw(post(client, "/predict", {"text": SPAM})))["model_version"] == (
        first.version
    )
    second = publish_model(models[1])
    clock.advance(runtime.settings.model_refresh_seconds + 1)
    assert check_envelope(*_raw(post(client, "/predict", {"text": HAM})))["model_version"] == (
        second.version
    )
    rollback(s3_client, bucket, PREFIX, first.version)
    clock.advance(runtime.settings.model_refresh_seconds + 1)
    for path in ("/health", "/model"):
        assert client.http.get(path).status_code == 200
    body = check_envelope(*_raw(post(client, "/predict/batch", {"texts": [SPAM, HAM]})))
    assert body["model_version"] == first.version

    assert calls, "the recorder saw nothing"
    assert {c.bucket for c in calls} == {bucket}
    outside = [c for c in calls if not (c.key or "").startswith(PREFIX)]
    assert outside == [], outside
    assert {c.operation for c in calls} == {"GetObject"}  # no List*, no Put*, no Delete*
    print(f"\nconfinement: {len(calls)} S3 calls, all GetObject under s3://{bucket}/{PREFIX}")


def test_legacy_mode_reads_only_the_two_root_pickles(
    make_client, api_s3, s3_client, bucket, other_bucket, models
) -> None:
    calls = record_s3_calls(api_s3)
    legacy = models[1]  # numeric labels: refit with the tutorial's 1 = ham encoding
    classifier = type(legacy.classifier)(C=1.0, max_iter=1000)
    texts = ["win a free prize now call", "see you at lunch", "free cash claim", "ok thanks"]
    classifier.fit(legacy.vectorizer.transform(texts), [0, 1, 0, 1])
    s3_client.put_object(Bucket=bucket, Key=LEGACY_MODEL_KEY, Body=dumps(classifier))
    s3_client.put_object(Bucket=bucket, Key=LEGACY_VECTORIZER_KEY, Body=dumps(legacy.vectorizer))
    s3_client.put_object(Bucket=bucket, Key="other/current.json", Body=b"{}")
    s3_client.put_object(Bucket=other_bucket, Key=f"{PREFIX}current.json", Body=b"{}")
    _, client = make_client(s3=api_s3)
    body = check_envelope(*_raw(post(client, "/predict", {"text": SPAM})))
    assert body["model_version"] == "legacy"
    # with no current.json the runtime also asks for its own live pointer (in the prefix)
    runtime_pointer = live_key(PREFIX, sklearn.__version__)
    allowed = {current_key(PREFIX), runtime_pointer, LEGACY_MODEL_KEY, LEGACY_VECTORIZER_KEY}
    assert {c.bucket for c in calls} == {bucket}
    assert {c.key for c in calls} <= allowed, calls
    assert {c.operation for c in calls} <= {"GetObject", "HeadObject"}


def _outside_manifest(model, keys: dict[str, str]) -> bytes:
    bodies = {
        "vectorizer": model.bundle.vectorizer_pkl,
        "model": model.bundle.model_pkl,
        "metrics": b"{}",
    }
    refs = {
        role: ArtifactRef(key=keys[role], sha256=sha256_hex(body), size=len(body))
        for role, body in bodies.items()
    }
    manifest = Manifest(
        version="escape",
        created_at="2026-11-25T12:00:00Z",
        sklearn_version=model.bundle.sklearn_version,
        threshold=0.5,
        labels=dict(model.labels),
        artifacts=refs,
    )
    return manifest.to_json()


@pytest.mark.parametrize(
    "keys",
    [
        {"vectorizer": "other/vectorizer.pkl", "model": "other/spam_model.pkl"},
        {"vectorizer": "models/../other/vectorizer.pkl", "model": "models/../other/m.pkl"},
        {"vectorizer": "models//x/vectorizer.pkl", "model": "/models/x/spam_model.pkl"},
        {"vectorizer": "models-old/vectorizer.pkl", "model": "models-old/spam_model.pkl"},
        {"vectorizer": LEGACY_VECTORIZER_KEY, "model": LEGACY_MODEL_KEY},
    ],
    ids=["other-prefix", "dot-dot", "empty-segment", "sibling-prefix", "bucket-root"],
)
def test_a_manifest_pointing_outside_the_prefix_is_refused(
    make_client, api_s3, s3_client, bucket, models, publish_model, clock, unpickled, keys
) -> None:
    calls = record_s3_calls(api_s3)
    live = publish_model(models[0])
    runtime, client = make_client(s3=api_s3)
    assert check_envelope(*_raw(post(client, "/predict", {"text": SPAM})))["model_version"] == (
        live.version
    )
    evil = models[1]
    keys = {**keys, "metrics": keys["model"].replace("spam_model.pkl", "metrics.json")}
    for role, body in (
        ("vectorizer", evil.bundle.vectorizer_pkl),
        ("model", evil.bundle.model_pkl),
    ):
        s3_client.put_object(Bucket=bucket, Key=keys[role].lstrip("/"), Body=body)
    s3_client.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=_outside_manifest(evil, keys))
    before = len(unpickled)
    clock.advance(runtime.settings.model_refresh_seconds + 1)

    body = check_envelope(*_raw(post(client, "/predict", {"text": HAM})))
    assert body["model_version"] == live.version  # the old model keeps serving
    health = client.http.get("/health")
    hbody = check_envelope(health.status_code, health.headers, health.body)
    assert health.status_code == 200 and hbody["status"] == "degraded"
    assert hbody["failure"]["kind"] == "invalid_manifest"
    assert "outside the registry prefix" in hbody["reason"]
    assert len(unpickled) == before  # nothing of the escaping version was unpickled
    read = {c.key for c in calls}
    assert not read & {k.lstrip("/") for k in keys.values()} - {current_key(PREFIX)}, read
    assert all(k.startswith(PREFIX) for k in read), read


def test_an_outside_manifest_at_cold_start_is_503_and_reads_nothing_outside(
    make_client, api_s3, s3_client, bucket, models, unpickled
) -> None:
    calls = record_s3_calls(api_s3)
    keys = {
        "vectorizer": "other/vectorizer.pkl",
        "model": "other/spam_model.pkl",
        "metrics": "other/metrics.json",
    }
    s3_client.put_object(Bucket=bucket, Key=keys["vectorizer"], Body=b"x")
    s3_client.put_object(
        Bucket=bucket, Key=current_key(PREFIX), Body=_outside_manifest(models[0], keys)
    )
    _, client = make_client(s3=api_s3)
    response = post(client, "/predict", {"text": SPAM})
    body = check_envelope(*_raw(response))
    assert response.status_code == 503 and body["Code"] == "ServiceUnavailableError"
    assert "outside the registry prefix" in body["Message"]
    assert unpickled == []
    assert {c.key for c in calls} == {current_key(PREFIX)}


@pytest.mark.parametrize("same_size", [True, False], ids=["same-size", "other-size"])
def test_tampered_bytes_are_never_unpickled(
    make_client,
    api_s3,
    s3_client,
    bucket,
    models,
    publish_model,
    clock,
    unpickled,
    tmp_path,
    same_size,
) -> None:
    live = publish_model(models[0])
    runtime, client = make_client(s3=api_s3)
    assert check_envelope(*_raw(post(client, "/predict", {"text": SPAM})))["model_version"] == (
        live.version
    )
    # positive control: the spy saw exactly the two recorded artifacts of the live version
    recorded = {live.artifacts["vectorizer"].sha256, live.artifacts["model"].sha256}
    assert set(unpickled) == recorded

    target = publish_model(models[1])
    tripwire = tmp_path / "unpickled"
    evil = dumps(_Tripwire(str(tripwire)))
    ref = target.artifacts["model"]
    if same_size:
        evil = evil + b"\0" * (ref.size - len(evil)) if len(evil) < ref.size else evil[: ref.size]
        assert len(evil) == ref.size
    s3_client.put_object(Bucket=bucket, Key=ref.key, Body=evil)
    clock.advance(runtime.settings.model_refresh_seconds + 1)

    body = check_envelope(*_raw(post(client, "/predict", {"text": HAM})))
    assert body["model_version"] == live.version
    health = client.http.get("/health")
    hbody = check_envelope(health.status_code, health.headers, health.body)
    assert hbody["status"] == "degraded" and hbody["failure"]["kind"] == "integrity"
    assert not tripwire.exists()
    assert sha256_hex(evil) not in unpickled
    # every byte string that reached joblib.load is one a manifest recorded
    assert set(unpickled) <= recorded | {target.artifacts["vectorizer"].sha256}


def _raw(response) -> tuple[int, dict, bytes]:
    return response.status_code, response.headers, response.body

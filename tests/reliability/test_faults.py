"""Faults in the registry and in S3 itself: the old model keeps serving, nothing answers 5xx
while a model is live, and without one the API answers a clear 503 and recovers by itself.

In process (``chalice.test.Client``, a fake clock to make refreshes due) against the moto
server over HTTP; S3 outages go through a loopback ``TcpProxy`` that can be closed or slowed.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import replace

import pytest
import sklearn.base
from chalicelib.registry_format import current_key, live_key
from chalicelib.s3_client import make_s3_client
from chalicelib.settings import Settings

from stack.local.services import free_port

from .conftest import (
    HAM,
    PREFIX,
    SPAM,
    TcpProxy,
    check_envelope,
    dumps,
    header,
    post,
)

pytestmark = pytest.mark.integration


def _get(client, path: str):
    response = client.http.get(path)
    return response.status_code, check_envelope(
        response.status_code, response.headers, response.body
    )


def _predict(client, text: str = SPAM):
    response = post(client, "/predict", {"text": text})
    return response.status_code, check_envelope(
        response.status_code, response.headers, response.body
    )


def _swaps_in(client, runtime, clock, version: str) -> None:
    """At the next due check ``version`` is served, and ``/health`` is back to ok."""
    clock.advance(runtime.settings.model_refresh_seconds + 1)
    status, body = _predict(client)
    assert status == 200 and body["model_version"] == version
    assert _get(client, "/health")[1]["status"] == "ok"


def _truncated_pickle(models, s3, bucket):
    bundle = models[1].bundle
    return replace(bundle, model_pkl=bundle.model_pkl[: len(bundle.model_pkl) // 2])


def _other_sklearn_recorded(models, publish_model, s3, bucket):
    """A writer from before the live pointers points current.json at a 1.7.2 model, and this
    runtime has no pointer of its own (the trainer alone never leaves a registry so)."""
    manifest = publish_model(replace(models[1].bundle, sklearn_version="1.7.2"))
    s3.delete_object(Bucket=bucket, Key=live_key(PREFIX, sklearn.__version__))
    s3.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=manifest.to_json())
    return manifest.version


def _other_sklearn_pickled(models, s3, bucket):
    """The manifest says this runtime's version, but the pickle was made by another."""
    real = sklearn.base.__version__
    sklearn.base.__version__ = "1.6.1"
    try:
        model_pkl = dumps(models[1].classifier)
    finally:
        sklearn.base.__version__ = real
    return replace(models[1].bundle, model_pkl=model_pkl)


#: fault name -> (how to make it after a good version is live, expected failure kind, words)
def _publish_fault(make_bundle):
    def inject(models, publish_model, s3, bucket):
        return publish_model(make_bundle(models, s3, bucket)).version

    return inject


def _hash_mismatch(models, publish_model, s3, bucket):
    """One byte of the published vectorizer flipped: same size, other sha256."""
    manifest = publish_model(models[1])
    data = bytearray(models[1].bundle.vectorizer_pkl)
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=manifest.artifacts["vectorizer"].key, Body=bytes(data))
    return manifest.version


def _size_mismatch(models, publish_model, s3, bucket):
    manifest = publish_model(models[1])
    ref = manifest.artifacts["vectorizer"]
    s3.put_object(Bucket=bucket, Key=ref.key, Body=models[2].bundle.vectorizer_pkl)
    return manifest.version


def _current_not_json(models, publish_model, s3, bucket):
    s3.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=b'{"version": "v9", "artif')
    return None


def _current_names_missing_objects(models, publish_model, s3, bucket):
    manifest = publish_model(models[1])
    s3.delete_object(Bucket=bucket, Key=manifest.artifacts["model"].key)
    return manifest.version


def _current_names_unknown_version(models, publish_model, s3, bucket):
    manifest = publish_model(models[1])
    text = manifest.to_json().decode().replace(manifest.version, "20990101T000000Z-ghost0")
    s3.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=text.encode())
    return "20990101T000000Z-ghost0"


def _current_is_empty(models, publish_model, s3, bucket):
    s3.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=b"")
    return None


def _current_wrong_schema(models, publish_model, s3, bucket):
    s3.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=json.dumps([1, 2]).encode())
    return None


def _garbage_pickle(models, s3, bucket):
    return replace(models[1].bundle, vectorizer_pkl=b"not a pickle at all " * 10)


def _wrong_object_pickled(models, s3, bucket):
    """Valid pickles of the wrong things: the vectorizer and classifier swapped."""
    bundle = models[1].bundle
    return replace(bundle, vectorizer_pkl=bundle.model_pkl, model_pkl=bundle.vectorizer_pkl)


def _manifest_with(models, publish_model, s3, bucket, edit) -> str:
    manifest = publish_model(models[1])
    text = edit(manifest.to_json().decode())
    s3.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=text.encode())
    return manifest.version


def _current_threshold_overflows(models, publish_model, s3, bucket):
    """A threshold too large for a float: float() raises OverflowError, not ValueError."""
    return _manifest_with(
        models,
        publish_model,
        s3,
        bucket,
        lambda t: re.sub(r'"threshold": [0-9.]+', '"threshold": 1' + "0" * 400, t),
    )


def _current_too_many_digits(models, publish_model, s3, bucket):
    """An integer over Python's 4300-digit limit: json.loads raises a plain ValueError."""
    return _manifest_with(
        models,
        publish_model,
        s3,
        bucket,
        lambda t: t.replace('"schema_version": 1', '"schema_version": 1' + "0" * 5000),
    )


def _current_deeply_nested(models, publish_model, s3, bucket):
    """Nesting deeper than the interpreter's recursion limit: json.loads raises RecursionError."""
    s3.put_object(
        Bucket=bucket,
        Key=current_key(PREFIX),
        Body=b'{"metrics": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    )
    return None


FAULTS = {
    "truncated-pickle": (_publish_fault(_truncated_pickle), "invalid_model", "could not be"),
    "garbage-pickle": (_publish_fault(_garbage_pickle), "invalid_model", "could not be"),
    "swapped-artifacts": (_publish_fault(_wrong_object_pickled), "invalid_model", ""),
    "hash-mismatch": (_hash_mismatch, "integrity", "sha256"),
    "size-mismatch": (_size_mismatch, "integrity", "bytes, but the manifest records"),
    "current-not-json": (_current_not_json, "invalid_manifest", "not valid JSON"),
    "current-empty": (_current_is_empty, "invalid_manifest", "not valid JSON"),
    "current-not-an-object": (_current_wrong_schema, "invalid_manifest", "JSON object"),
    "current-names-missing-object": (_current_names_missing_objects, "not_found", "not exist"),
    "current-names-unknown-version": (_current_names_unknown_version, "not_found", "not exist"),
    "current-threshold-overflows": (_current_threshold_overflows, "invalid_manifest", "threshold"),
    "current-too-many-digits": (_current_too_many_digits, "invalid_manifest", "not valid JSON"),
    "current-deeply-nested": (_current_deeply_nested, "invalid_manifest", "not valid JSON"),
    "sklearn-recorded-other": (_other_sklearn_recorded, "incompatible", "1.7.2"),
    "sklearn-pickled-other": (_publish_fault(_other_sklearn_pickled), "incompatible", "1.6.1"),
}


#: What the log says of a fault, beyond what the client is told (keys are not for clients).
LOGGED = {
    "current-too-many-digits": f"{PREFIX}current.json: not valid JSON (Exceeds the limit",
    "current-deeply-nested": f"{PREFIX}current.json: not valid JSON",
    "hash-mismatch": f"{PREFIX}",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_new_version_never_replaces_the_working_one(
    make_client, s3_client, bucket, models, publish_model, clock, fault, caplog
) -> None:
    inject, kind, words = FAULTS[fault]
    good = publish_model(models[0])
    runtime, client = make_client()
    assert _predict(client) == (200, _predict(client)[1])
    assert _predict(client)[1]["model_version"] == good.version

    bad_version = inject(models, publish_model, s3_client, bucket)
    statuses = []
    for _ in range(3):  # the refresh that fails, then the interval after it, then a retry
        clock.advance(runtime.settings.model_refresh_seconds + 1)
        for path in ("/predict", "/predict/batch", "/health", "/model"):
            if path == "/predict":
                status, body = _predict(client, HAM)
            elif path == "/predict/batch":
                response = post(client, path, {"texts": [SPAM, HAM]})
                status = response.status_code
                body = check_envelope(status, response.headers, response.body)
            else:
                status, body = _get(client, path)
            statuses.append(status)
            assert status == 200, (path, body)
            assert body["model_version"] == good.version, (path, body)

    status, health = _get(client, "/health")
    assert health["status"] == "degraded" and health["ready"] is True
    assert health["failure"]["kind"] == kind, health
    assert words in health["reason"], health
    assert "current.json" not in json.dumps(health) and bucket not in json.dumps(health)
    assert f"model check failed ({kind})" in caplog.text
    assert LOGGED.get(fault, "") in caplog.text
    if bad_version:
        assert health["failure"]["version"] in {bad_version, None}
    _, info = _get(client, "/model")
    assert info["status"] == "degraded" and info["failure"]["kind"] == kind
    print(f"\nfault {fault}: {len(statuses)} responses, all 200 from {good.version}; {kind}")

    # fixed by publishing a good version: swaps in, health back to ok
    _swaps_in(client, runtime, clock, publish_model(models[2]).version)


@pytest.mark.parametrize("fault", ["truncated-pickle", "hash-mismatch", "current-not-json"])
def test_a_broken_only_version_at_cold_start_is_a_clear_503(
    make_client, s3_client, bucket, models, publish_model, fault
) -> None:
    inject, _, words = FAULTS[fault]
    inject(models, publish_model, s3_client, bucket)
    _, client = make_client()
    for path in ("/predict", "/health"):
        response = (
            post(client, path, {"text": SPAM}) if path == "/predict" else client.http.get(path)
        )
        body = check_envelope(response.status_code, response.headers, response.body)
        assert response.status_code == 503, body
        assert body["Code"] == "ServiceUnavailableError"
        assert words in body["Message"], body


# -- S3 down, slow and back -----------------------------------------------------------------


def test_the_botocore_s3_client_has_explicit_bounded_timeouts_and_retries() -> None:
    """With S3_CLIENT=botocore (or outside Lambda); tests/spam_api/test_s3_http.py has the
    same bounds for the standard-library client the API uses on Lambda."""
    settings = Settings(
        model_bucket="b",
        s3_client="botocore",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
    )
    s3 = make_s3_client(settings)
    config = s3.meta.config
    # explicit (the settings' values, whatever they are tuned to), never botocore's 60 s
    assert config.connect_timeout == settings.s3_connect_timeout_seconds <= 5.0
    assert config.read_timeout == settings.s3_read_timeout_seconds <= 10.0
    assert config.retries["mode"] == "standard"
    # botocore's defaults would be 60 s + 60 s and 5 attempts (legacy mode): minutes
    worst = settings.s3_max_attempts * (config.connect_timeout + config.read_timeout)
    assert worst <= 15.0  # one S3 call, at worst; the Lambda timeout is 30 s

    # the attempts actually made against a closed port: exactly S3_MAX_ATTEMPTS
    sent: list[float] = []
    s3.meta.events.register("before-send.s3.*", lambda **_: sent.append(time.monotonic()))
    with pytest.raises(Exception, match="Could not connect"):
        s3.get_object(Bucket="b", Key="models/current.json")
    assert len(sent) == settings.s3_max_attempts <= 3

    custom = make_s3_client(
        Settings(
            model_bucket="b",
            s3_client="botocore",
            s3_connect_timeout_seconds=0.5,
            s3_read_timeout_seconds=1.5,
            s3_max_attempts=3,
        )
    ).meta.config
    assert (custom.connect_timeout, custom.read_timeout) == (0.5, 1.5)
    assert custom.retries.get("total_max_attempts") == 3


@pytest.fixture
def proxy(s3_endpoint: str):
    proxy = TcpProxy(s3_endpoint, free_port())
    yield proxy
    proxy.stop()


@pytest.fixture(params=["auto", "botocore"], ids=["http-client", "botocore-client"])
def s3_kind(request) -> str:
    """S3_CLIENT: each S3 fault is served by both clients the API can build."""
    return request.param


#: The longest one request may pay for a failing registry check through the proxy:
#: attempts x (connect + read timeouts), plus backoff and slack.
CHECK_BOUND = 2 * (1.0 + 1.0) + 2.0


def _proxied_client(make_client, proxy, s3_kind, **settings):
    values = {
        "s3_client": s3_kind,
        "s3_endpoint_url": proxy.url,
        "s3_connect_timeout_seconds": 1.0,
        "s3_read_timeout_seconds": 1.0,
        "s3_max_attempts": 2,
        **settings,
    }
    s3 = make_s3_client(Settings(model_bucket="unused", **values))
    return make_client(s3=s3, **values)


@pytest.fixture
def serving(make_client, models, publish_model, proxy, s3_kind):
    """S3 up behind the proxy and the first model live: ``(runtime, client, manifest)``."""
    first = publish_model(models[0])
    proxy.start()
    runtime, client = _proxied_client(make_client, proxy, s3_kind)
    assert _predict(client)[1]["model_version"] == first.version
    return runtime, client, first


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_s3_down_at_cold_start_is_503_with_cors_then_recovers_without_restart(
    make_client, models, publish_model, proxy, clock, s3_kind
) -> None:
    good = publish_model(models[0])
    runtime, client = _proxied_client(make_client, proxy, s3_kind)  # proxy not started: port closed
    worst = 0.0
    for path in ("/predict", "/predict/batch", "/health", "/model"):
        for _ in range(3):
            if path.startswith("/predict"):
                body = {"text": SPAM} if path == "/predict" else {"texts": [SPAM]}
                response, took = _timed(lambda p=path, b=body: post(client, p, b))
            else:
                response, took = _timed(lambda p=path: client.http.get(p))
            worst = max(worst, took)
            body = check_envelope(response.status_code, response.headers, response.body)
            assert response.status_code == 503, body
            assert body["Code"] == "ServiceUnavailableError"
            assert "S3 did not answer" in body["Message"], body
            assert str(proxy.port) not in json.dumps(body)  # the endpoint is for the log
            if path.startswith("/predict"):
                assert int(header(response.headers, "Retry-After")) >= 1
            if path == "/health":
                assert body["status"] == "unavailable" and body["ready"] is False, body
            clock.advance(runtime.settings.model_retry_seconds + 1)
    assert worst < 5.0, worst

    proxy.start()  # S3 is back
    clock.advance(runtime.settings.model_retry_seconds + 1)
    status, body = _predict(client)
    assert status == 200 and body["model_version"] == good.version
    assert _get(client, "/health")[1]["status"] == "ok"
    print(f"\nS3 down at cold start: 503s in at most {worst:.2f}s each, then 200 once back")


def test_s3_slow_or_gone_while_serving_keeps_the_live_model(
    serving, models, publish_model, proxy, clock
) -> None:
    runtime, client, _ = serving

    # slow but within the read timeout: the new version still arrives
    second = publish_model(models[1])
    proxy.delay = 0.2
    clock.advance(runtime.settings.model_refresh_seconds + 1)
    (status, body), took = _timed(lambda: _predict(client))
    assert status == 200 and body["model_version"] == second.version
    assert took < 10.0

    # slower than the read timeout: the check fails within the configured bound
    publish_model(models[2])
    proxy.delay = 3.0
    clock.advance(runtime.settings.model_refresh_seconds + 1)
    (status, body), slow = _timed(lambda: _predict(client))
    assert status == 200 and body["model_version"] == second.version
    assert 1.0 <= slow < CHECK_BOUND, slow
    (status, body), served = _timed(lambda: _predict(client))  # not due: no S3 call at all
    assert status == 200 and served < 1.0
    health = _get(client, "/health")[1]
    assert health["status"] == "degraded" and health["failure"]["kind"] == "registry_unavailable"
    assert "S3 did not answer" in health["reason"]

    # gone: connections refused; still serving, quickly
    proxy.stop()
    clock.advance(runtime.settings.model_refresh_seconds + 1)
    (status, body), took = _timed(lambda: _predict(client))
    assert status == 200 and body["model_version"] == second.version
    assert took < CHECK_BOUND

    # back: the pending version swaps in
    proxy.delay = 0.0
    proxy.start()
    clock.advance(runtime.settings.model_refresh_seconds + 1)
    assert _predict(client)[1]["model_version"] != second.version
    assert _get(client, "/health")[1]["status"] == "ok"
    print(
        f"\nS3 slow: the request that ran the failing check took {slow:.2f}s "
        f"(bound {CHECK_BOUND:.1f}s), S3 gone: {took:.2f}s; live model kept"
    )


def test_a_download_cut_short_is_a_transient_failure_not_a_refusal(
    serving, models, publish_model, proxy, clock
) -> None:
    """A dropped connection mid-artifact must be retried later, not remembered as corrupt."""
    runtime, client, first = serving

    second = publish_model(models[1])
    proxy.cut_after = 8_000  # current.json gets through; the pickles do not
    for _ in range(2):
        clock.advance(runtime.settings.model_refresh_seconds + 1)
        status, body = _predict(client)
        assert status == 200 and body["model_version"] == first.version
        health = _get(client, "/health")[1]
        assert health["status"] == "degraded", health
        assert health["failure"]["kind"] == "registry_unavailable", health

    proxy.cut_after = None  # the network heals: the same version is fetched again
    _swaps_in(client, runtime, clock, second.version)


def test_while_a_check_hangs_on_s3_other_requests_are_served_at_once(
    serving, models, publish_model, proxy, clock
) -> None:
    """One request pays for a stuck registry check (bounded); the others do not wait for it."""
    runtime, client, first = serving
    publish_model(models[1])
    proxy.delay = 30.0  # S3 accepts connections and then says nothing
    clock.advance(runtime.settings.model_refresh_seconds + 1)

    stuck: dict[str, float] = {}

    def refresh() -> None:
        (status, _), stuck["seconds"] = _timed(lambda: _predict(client))
        stuck["status"] = status

    asked = len(proxy.request_lines)
    thread = threading.Thread(target=refresh)
    thread.start()
    deadline = time.monotonic() + 10
    while len(proxy.request_lines) == asked and time.monotonic() < deadline:
        time.sleep(0.01)  # until the first request is inside its (hanging) check
    assert len(proxy.request_lines) > asked
    others = []
    while thread.is_alive() and len(others) < 50:
        (status, body), took = _timed(lambda: _predict(client, HAM))
        assert status == 200 and body["model_version"] == first.version
        others.append(took)
    thread.join(timeout=30)
    assert stuck["status"] == 200 and stuck["seconds"] < CHECK_BOUND, stuck
    assert others and max(others) < 1.0, max(others)
    print(
        f"\nS3 hanging: the checking request took {stuck['seconds']:.2f}s "
        f"(bound {CHECK_BOUND:.0f}s); {len(others)} others meanwhile, "
        f"slowest {max(others) * 1000:.0f} ms"
    )


def test_non_finite_metrics_in_a_manifest_never_make_a_response_invalid_json(
    make_client, s3_client, bucket, models, publish_model, clock
) -> None:
    """JSON has no NaN or Infinity: a manifest carrying them must not leak them to clients."""
    good = publish_model(models[0])
    runtime, client = make_client()
    assert _predict(client)[1]["model_version"] == good.version
    manifest = publish_model(models[1])
    obj = json.loads(manifest.to_json())
    obj["metrics"].update(mcc=float("nan"), lift=float("inf"))
    body = json.dumps(obj).encode()  # Python writes NaN and Infinity unless told not to
    assert b"NaN" in body
    s3_client.put_object(Bucket=bucket, Key=current_key(PREFIX), Body=body)
    clock.advance(runtime.settings.model_refresh_seconds + 1)
    for path in ("/predict", "/health", "/model"):
        if path == "/predict":
            status, body = _predict(client)
        else:
            status, body = _get(client, path)  # parsed strictly: NaN fails the test
        assert status == 200, body
    health = _get(client, "/health")[1]  # refused as the non-JSON it is; the old one serves
    assert health["model_version"] == good.version and "NaN" in health["reason"], health

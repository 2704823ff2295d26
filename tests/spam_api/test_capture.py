"""Capture: which scored messages are kept, where, how, and what a failed write costs.

In-process through Chalice's test client against the session's moto server over HTTP:
the decision predicted from each answer's ``X-Request-Id`` (rates, both strata, batch
positions), the records and their keys, the conditional create that never overwrites,
the only calls the API makes (with both S3 clients), nothing at all with both rates at 0,
and a capture S3 that hangs or refuses: the answer is still a 200, within one capture
timeout, and the failure is counted and logged without the text. The same PUT against an
S3 server that checks signatures is in ``test_s3rver.py``; through the real ``chalice
local`` in ``test_capture_chalice_local.py``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalicelib import capture
from chalicelib import metrics_format as fmt
from chalicelib.capture_format import (
    STRATA,
    capture_stratum,
    parse_record_key,
    record_key,
)
from chalicelib.s3_client import AwsEnvironment, make_s3_client
from chalicelib.settings import Settings, SettingsError, load_settings

from stack.local.services import free_port
from tests.support import stored_records

from .conftest import API_DIR, PREFIX, Fitted, body_of, post, recorded_calls
from .emf_check import read_lines, total

CAPTURE = "capture/"
SPAM = "WINNER!! Claim your free prize now, reply YES"
#: A word that must never reach a log: texts are sent with it inside.
MARKER = "Qxzvmarkerwq"
#: A record id whose key already holds another object (a collision).
TAKEN = "20261206T101500Z-0123456789abcdef"


def captured(s3: Any, bucket: str) -> dict[str, Any]:
    """Every object under the capture prefix, by key, parsed as a record."""
    return stored_records(s3, bucket, CAPTURE)


def all_keys(s3: Any, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


# -- settings -------------------------------------------------------------------------------


def test_capture_is_off_unless_a_rate_is_set() -> None:
    settings = load_settings({"MODEL_BUCKET": "spam-models"})
    assert (settings.capture_rate, settings.capture_uncertain_rate) == (0.0, 0.0)
    assert not settings.capture_enabled
    assert (settings.capture_prefix, settings.capture_retention_days) == ("capture/", 30)
    on = load_settings({"CAPTURE_RATE": "0.01", "CAPTURE_RETENTION_DAYS": "7"})
    assert on.capture_enabled and on.capture_rate == 0.01 and on.capture_retention_days == 7
    assert load_settings({"CAPTURE_UNCERTAIN_RATE": "1"}).capture_enabled


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"CAPTURE_RATE": "1.5"}, "CAPTURE_RATE must be a share from 0 to 1, got '1.5'"),
        ({"CAPTURE_UNCERTAIN_RATE": "-0.1"}, "CAPTURE_UNCERTAIN_RATE must be a share"),
        ({"CAPTURE_RATE": "nan"}, "CAPTURE_RATE must be"),
        ({"CAPTURE_RETENTION_DAYS": "0"}, "CAPTURE_RETENTION_DAYS must be an integer"),
        ({"CAPTURE_PREFIX": "/"}, "CAPTURE_PREFIX must be a non-empty key prefix"),
        ({"CAPTURE_PREFIX": "models/capture/"}, "CAPTURE_PREFIX must lie outside MODEL_PREFIX"),
        ({"CAPTURE_PREFIX": "models"}, "CAPTURE_PREFIX must lie outside MODEL_PREFIX"),
        ({"CAPTURE_PREFIX": "feedback/x/"}, "CAPTURE_PREFIX must lie outside FEEDBACK_PREFIX"),
        (
            {"CAPTURE_PREFIX": "store/", "FEEDBACK_PREFIX": "store/feedback/"},
            "CAPTURE_PREFIX must lie outside FEEDBACK_PREFIX ('store/feedback/')",
        ),
        ({"FEEDBACK_PREFIX": "capture/"}, "CAPTURE_PREFIX must lie outside FEEDBACK_PREFIX"),
    ],
)
def test_bad_capture_settings_are_refused_by_name(env, words) -> None:
    with pytest.raises(SettingsError, match="^" + words.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env)


def test_a_capture_prefix_apart_from_both_stores_is_taken() -> None:
    settings = load_settings({"CAPTURE_PREFIX": "samples", "FEEDBACK_PREFIX": "reports/"})
    assert settings.capture_prefix == "samples/"


def test_no_stage_of_the_chalice_config_sets_a_capture_setting() -> None:
    """``chalice local``'s stage variables win over the shell: a rate set there could not be
    turned off from outside (the demo, a checker); deploy writes a deployed stage's own."""
    config = json.loads((API_DIR / ".chalice" / "config.json").read_text())
    scopes = [config.get("environment_variables", {})]
    scopes += [stage.get("environment_variables", {}) for stage in config["stages"].values()]
    assert not [name for env in scopes for name in env if name.startswith("CAPTURE_")]


# -- the decision, predicted from the request id ----------------------------------------------

BAND = 0.3
THRESHOLD = 0.5  # the published bundle's


@pytest.fixture(scope="module")
def mixed_texts(fitted: Fitted) -> list[str]:
    """60 SMS texts, 20 of them within BAND of the threshold (the model's own scores)."""
    probabilities = fitted.classifier.predict_proba(fitted.vectorizer.transform(fitted.texts))
    spam = list(fitted.classifier.classes_).index("spam")
    near, far = [], []
    for text, p in zip(fitted.texts, probabilities[:, spam], strict=True):
        (near if abs(p - THRESHOLD) <= BAND else far).append(text)
    assert len(near) >= 20, len(near)
    return near[:20] + far[:40]


def predicted(request_id: str, probabilities: list[float], rate: float, u: float) -> dict:
    decisions = {
        position: capture_stratum(
            request_id,
            position,
            spam_probability=p,
            threshold=THRESHOLD,
            band=BAND,
            rate=rate,
            uncertain_rate=u,
        )
        for position, p in enumerate(probabilities)
    }
    return {position: stratum for position, stratum in decisions.items() if stratum}


@pytest.mark.parametrize(("rate", "u"), [(0.0, 0.0), (0.01, 0.0), (0.2, 0.5), (1.0, 1.0)])
def test_the_strata_are_drawn_at_their_rates(rate: float, u: float) -> None:
    """Over 20,000 request ids and positions: r of the messages random; of the others, u of
    those in the band uncertain, and never one outside it (within 5 standard deviations)."""
    draws = 20_000

    def decisions(p: float) -> list[str | None]:
        """Each message's stratum, every message scored ``p`` (threshold 0.5, band 0.1)."""
        return [
            capture_stratum(
                f"req-{n}",
                n % 7,
                spam_probability=p,
                threshold=0.5,
                band=0.1,
                rate=rate,
                uncertain_rate=u,
            )
            for n in range(draws)
        ]

    def close(count: int, p: float) -> bool:
        return abs(count - draws * p) <= 5 * (draws * p * (1 - p)) ** 0.5 + 1e-9

    inside, outside = decisions(0.55), decisions(0.9)
    assert close(inside.count("random"), rate) and close(outside.count("random"), rate)
    assert close(inside.count("uncertain"), (1 - rate) * u)
    assert outside.count("uncertain") == 0
    assert inside == decisions(0.55)  # the same ids, the same decisions


def test_a_batch_keeps_exactly_the_messages_its_request_id_draws(
    bare_client, make_runtime, s3_client, bucket, published, mixed_texts, capsys
) -> None:
    make_runtime(capture_rate=0.2, capture_uncertain_rate=0.5, uncertainty_band=BAND)
    expected_strata: set[str] = set()
    seen: set[str] = set()
    for batch in (mixed_texts, mixed_texts[::-1]):
        response = post(bare_client, "/predict/batch", {"texts": batch})
        assert response.status_code == 200, response.body
        rid = response.headers["X-Request-Id"]
        results = body_of(response)["results"]
        expected = predicted(rid, [r["spam_probability"] for r in results], 0.2, 0.5)
        records = {
            r.position: r for k, r in captured(s3_client, bucket).items() if r.request_id == rid
        }
        assert {p: r.stratum for p, r in records.items()} == expected
        for position, record in records.items():
            assert record.text == batch[position]
            assert record.spam_probability == results[position]["spam_probability"]
            assert record.threshold == THRESHOLD and record.model_version == published.version
            assert (
                record.inclusion_probability
                == {"random": 0.2, "uncertain": 0.8 * 0.5}[record.stratum]
            )
            assert record.state == "pending" and record.label is None
        expected_strata |= set(expected.values())
        seen |= {record.id for record in records.values()}
        (line,) = [
            line for line in read_lines(capsys.readouterr().out) if fmt.REQUESTS in line.values
        ]
        assert line.values[fmt.CAPTURE_WRITES] == [len(expected)]
        assert line.values[fmt.CAPTURE_FAILURES] == [0]
    assert expected_strata == set(STRATA)  # both strata were exercised
    assert len(seen) == len(captured(s3_client, bucket))  # one record per kept message


def test_single_predictions_are_kept_as_their_request_ids_draw(
    bare_client, make_runtime, s3_client, bucket, published
) -> None:
    make_runtime(capture_rate=0.5)
    expected, kept_ids = set(), set()
    for n in range(24):
        response = post(bare_client, "/predict", {"text": f"{SPAM} number {n}"})
        assert response.status_code == 200
        rid = response.headers["X-Request-Id"]
        if predicted(rid, [body_of(response)["spam_probability"]], 0.5, 0.0):
            expected.add(rid)
    records = captured(s3_client, bucket).values()
    kept_ids = {r.request_id for r in records}
    assert kept_ids == expected and 0 < len(expected) < 24
    assert {r.position for r in records} == {0}
    assert {r.stratum for r in records} == {"random"}


def test_with_both_rates_at_0_nothing_is_decided_written_or_counted(
    bare_client, make_runtime, s3_client, bucket, published, capsys
) -> None:
    runtime = make_runtime()
    assert runtime.capture is None
    for path, body in (("/predict", {"text": SPAM}), ("/predict/batch", {"texts": [SPAM] * 5})):
        assert post(bare_client, path, body).status_code == 200
    assert [k for k in all_keys(s3_client, bucket) if not k.startswith(PREFIX)] == []
    lines = read_lines(capsys.readouterr().out)
    assert lines and not [line for line in lines if fmt.CAPTURE_WRITES in line.values]
    health = body_of(bare_client.http.get("/health"))
    assert health["capture"] == {"enabled": False, "retention_days": 30}


def test_a_kept_record_holds_nothing_about_the_sender(
    bare_client, make_runtime, s3_client, bucket, published
) -> None:
    make_runtime(capture_rate=1.0)
    response = post(
        bare_client,
        "/predict",
        {"text": SPAM},
        headers={"User-Agent": "secret-agent/1.0", "X-Forwarded-For": "203.0.113.9"},
    )
    ((key, record),) = captured(s3_client, bucket).items()
    assert parse_record_key(CAPTURE, key) == ("pending", record.id)
    assert key == record_key(CAPTURE, "pending", record.id)
    assert record.request_id == response.headers["X-Request-Id"]
    raw = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert "secret-agent" not in raw and "203.0.113.9" not in raw
    assert set(json.loads(raw)) == {
        "id", "text", "captured_at", "request_id", "position", "model_version",
        "spam_probability", "threshold", "stratum", "inclusion_probability", "labelling",
        "schema_version",
    }  # fmt: skip


def test_health_says_capture_is_on_and_for_how_long(bare_client, make_runtime, published) -> None:
    make_runtime(capture_uncertain_rate=0.5, capture_retention_days=14)
    body = body_of(bare_client.http.get("/health"))
    assert body["capture"] == {"enabled": True, "retention_days": 14}
    document = body_of(bare_client.http.get("/openapi.json"))
    schema = document["components"]["schemas"]["Health"]["properties"]["capture"]
    assert schema["properties"]["enabled"]["const"] is True
    assert schema["properties"]["retention_days"]["const"] == 14


# -- where and how it writes ------------------------------------------------------------------


def test_a_taken_key_is_never_overwritten_and_the_failure_is_counted(
    bare_client, make_runtime, s3_client, bucket, published, monkeypatch, capsys
) -> None:
    """The PUT is a conditional create: a key already holding an object stays as it was."""
    key = record_key(CAPTURE, "pending", TAKEN)
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"someone else's record")
    monkeypatch.setattr(capture, "new_record_id", lambda now: TAKEN)
    make_runtime(capture_rate=1.0)
    capsys.readouterr()
    response = post(bare_client, "/predict", {"text": SPAM})
    assert response.status_code == 200, response.body
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"someone else's record"
    (line,) = [line for line in read_lines(capsys.readouterr().out) if fmt.REQUESTS in line.values]
    assert (line.values[fmt.CAPTURE_WRITES], line.values[fmt.CAPTURE_FAILURES]) == ([0], [1])


def _moto_capture_client(kind: str, endpoint: str) -> Any:
    """The API's capture client (``capture.client_settings``) of ``kind``, on ``endpoint``."""
    settings = capture.client_settings(Settings(s3_client=kind, s3_endpoint_url=endpoint))
    aws = AwsEnvironment(access_key_id="testing", secret_access_key="testing", region="us-east-1")
    return make_s3_client(settings, aws)


@pytest.mark.parametrize("kind", ["auto", "botocore"], ids=["http-client", "botocore-client"])
def test_the_only_call_is_one_conditional_put_under_capture_pending(
    bare_client, make_runtime, s3_endpoint, s3_client, bucket, published, kind
) -> None:
    client = _moto_capture_client(kind, s3_endpoint)
    assert type(client).__name__ == ("HttpS3Client" if kind == "auto" else "S3")
    calls = recorded_calls(client)
    make_runtime(capture_rate=1.0, capture_s3=client)
    response = post(bare_client, "/predict/batch", {"texts": [SPAM, "see you at 7"]})
    assert response.status_code == 200, response.body
    records = captured(s3_client, bucket)
    assert sorted(calls) == sorted(("PutObject", key, "*") for key in records)
    assert len(records) == 2 and all(k.startswith(f"{CAPTURE}pending/") for k in records)
    assert not [k for k in all_keys(s3_client, bucket) if k.startswith("feedback/")]


@pytest.mark.parametrize("kind", ["auto", "botocore"], ids=["http-client", "botocore-client"])
def test_the_capture_client_makes_one_attempt_within_half_a_second(s3_endpoint, kind) -> None:
    """Its own client, with the capture timeouts, whatever the registry reader's are."""
    client = _moto_capture_client(kind, s3_endpoint)
    if kind == "auto":
        timeouts = (client._connect_timeout, client._read_timeout)
        attempts = client._attempts
    else:
        config = client.meta.config
        timeouts = (config.connect_timeout, config.read_timeout)
        attempts = config.retries["total_max_attempts"]
    assert attempts == 1
    assert sum(timeouts) == capture.TIMEOUT_SECONDS <= 0.5


def test_a_runtime_with_capture_on_builds_the_capture_client_apart(monkeypatch) -> None:
    from chalicelib import runtime as runtime_module

    made: list[Settings] = []
    monkeypatch.setattr(runtime_module, "make_s3_client", lambda s: made.append(s) or object())
    built = runtime_module.build_runtime(Settings(model_bucket="b", capture_rate=0.1))
    assert [(s.s3_max_attempts, s.s3_read_timeout_seconds) for s in made] == [
        (1, capture.READ_TIMEOUT_SECONDS),
        (Settings().s3_max_attempts, Settings().s3_read_timeout_seconds),
    ]
    assert built.capture is not None and built.capture._s3 is not built.holder.reader._s3
    made.clear()
    assert runtime_module.build_runtime(Settings(model_bucket="b")).capture is None
    assert len(made) == 1  # capture off: no client of its own


# -- a capture S3 that fails never costs the answer ---------------------------------------------


class Silent:
    """A TCP server that accepts connections and never answers (an S3 that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(connection)  # held open, never read from or answered

    def close(self) -> None:
        self.sock.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


@pytest.mark.parametrize("kind", ["auto", "botocore"], ids=["http-client", "botocore-client"])
@pytest.mark.parametrize("failure", ["hangs", "refuses"])
def test_a_failing_capture_store_still_answers_200_within_one_timeout(
    bare_client, make_runtime, published, silent, caplog, capsys, kind, failure
) -> None:
    endpoint = silent.url if failure == "hangs" else f"http://127.0.0.1:{free_port()}"
    client = _moto_capture_client(kind, endpoint)  # its timeout: the test above
    calls = recorded_calls(client)
    make_runtime(capture_rate=1.0, capture_s3=client)
    texts = [f"{MARKER} {SPAM}", f"{MARKER} see you at 7", f"{MARKER} call me"]
    capsys.readouterr()
    response = post(bare_client, "/predict/batch", {"texts": texts})
    assert response.status_code == 200, response.body
    assert body_of(response)["count"] == 3
    # one capture write was tried of the three drawn: a request waits for S3 at most once
    assert [operation for operation, _, _ in calls] == ["PutObject"]
    if failure == "hangs":
        assert len(silent.accepted) == 1
    out = capsys.readouterr().out
    (line,) = [line for line in read_lines(out) if fmt.REQUESTS in line.values]
    assert (line.values[fmt.CAPTURE_WRITES], line.values[fmt.CAPTURE_FAILURES]) == ([0], [3])
    assert total([line], fmt.MESSAGES_SCORED) == 3
    (logged,) = [r for r in caplog.records if "not captured" in r.getMessage()]
    assert logged.name == "spam-api.capture" and logged.levelname == "WARNING"
    assert logged.request_id == response.headers["X-Request-Id"]  # the app's log line names it
    assert MARKER not in out + caplog.text


def test_a_fault_in_capture_is_logged_and_counted_never_answered(
    bare_client, make_runtime, published, monkeypatch, caplog, capsys
) -> None:
    runtime = make_runtime(capture_rate=1.0)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a fault of ours")

    monkeypatch.setattr(runtime.capture, "keep", broken)
    capsys.readouterr()
    response = post(bare_client, "/predict", {"text": f"{MARKER} {SPAM}"})
    assert response.status_code == 200, response.body
    out = capsys.readouterr().out
    (line,) = [line for line in read_lines(out) if fmt.REQUESTS in line.values]
    assert line.values[fmt.CAPTURE_FAILURES] == [1]
    assert "capturing the scored messages failed" in caplog.text
    assert MARKER not in out + caplog.text


def test_boto3_against_moto_refuses_the_conditional_put_the_writer_relies_on(
    s3_endpoint, bucket
) -> None:
    """moto enforces If-None-Match on PUT (the tests above rely on it)."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key="capture/pending/x.json", Body=b"1", IfNoneMatch="*")
    with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key="capture/pending/x.json", Body=b"2", IfNoneMatch="*")

"""The metrics the API writes: EMF lines on stdout, in-process through Chalice's test client.

Every line any answer writes is checked against AWS's EMF specification (``emf_check``);
then what the lines say is checked against what was sent and answered. The real
``chalice local`` writes them too (``test_chalice_local.py``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from chalicelib import metrics
from chalicelib import metrics_format as fmt
from chalicelib.metrics_format import EmfLine, MetricsFormatError, emf_line, is_uncertain
from chalicelib.runtime import reset_runtime, warm_start
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.registry import publish
from vendor_build.lambda_events import proxy_event, response_json
from vendor_build.lambda_sandbox import LambdaContext

from .conftest import API_DIR, JSON, PREFIX, body_of, post, unreachable_s3
from .emf_check import emf_lines, read_lines, total

SPAM = "WINNER!! You have won a FREE prize, call now to claim it"
HAM = "see you at lunch tomorrow, I'll bring the notes"
#: A word no line may ever carry: texts are sent with it inside, then stdout is searched.
MARKER = "Zyxwvmarkerqj"


def answers(capsys: pytest.CaptureFixture[str]) -> list[EmfLine]:
    """The EMF lines written since the last call, each checked against the specification."""
    return read_lines(capsys.readouterr().out)


def request_line(lines: list[EmfLine]) -> EmfLine:
    """The one line of an answer that carries its request figures."""
    carrying = [line for line in lines if fmt.REQUESTS in line.values]
    assert len(carrying) == 1, lines
    return carrying[0]


# -- every route and every error writes its request figures ---------------------------------

#: (id, set-up, method, path, body, content type, status, Route, NoModel)
ANSWERS = [
    ("predict", "served", "POST", "/predict", {"text": SPAM}, None, 200, "/predict", 0),
    ("batch", "served", "POST", "/predict/batch", {"texts": [SPAM, HAM]}, None, 200,
     "/predict/batch", 0),
    ("feedback", "served", "POST", "/feedback", {"text": HAM, "label": "ham"}, None, 202,
     "/feedback", 0),
    ("health", "served", "GET", "/health", None, None, 200, "/health", 0),
    ("model", "served", "GET", "/model", None, None, 200, "/model", 0),
    ("openapi", "served", "GET", "/openapi.json", None, None, 200, "/openapi.json", 0),
    ("400 bad json", "served", "POST", "/predict", b"{nope", None, 400, "/predict", 0),
    ("400 batch", "served", "POST", "/predict/batch", {"texts": "one"}, None, 400,
     "/predict/batch", 0),
    ("400 label", "served", "POST", "/feedback", {"text": HAM, "label": "eggs"}, None, 400,
     "/feedback", 0),
    ("403 feedback off", "feedback off", "POST", "/feedback", {"text": HAM, "label": "ham"},
     None, 403, "/feedback", 0),
    ("405", "served", "GET", "/predict", None, None, 405, "/predict", 0),
    ("413 text", "served", "POST", "/predict", {"text": "a" * 20_001}, None, 413, "/predict", 0),
    ("413 batch", "served", "POST", "/predict/batch", {"texts": ["a"] * 101}, None, 413,
     "/predict/batch", 0),
    ("413 body", "served", "POST", "/feedback", b"x" * 1_048_577, None, 413, "/feedback", 0),
    ("415", "served", "POST", "/predict", b"hello", "text/plain", 415, "/predict", 0),
    ("500 not configured", "not configured", "POST", "/predict", {"text": SPAM}, None, 500,
     "/predict", 0),
    ("500 not configured health", "not configured", "GET", "/health", None, None, 500,
     "/health", 0),
    ("500 fault", "fault", "POST", "/predict", {"text": SPAM}, None, 500, "/predict", 0),
    ("503 no model predict", "nothing published", "POST", "/predict", {"text": SPAM}, None,
     503, "/predict", 1),
    ("503 no model batch", "nothing published", "POST", "/predict/batch", {"texts": [SPAM]},
     None, 503, "/predict/batch", 1),
    ("503 no model health", "nothing published", "GET", "/health", None, None, 503, "/health",
     1),
    ("503 no model model", "nothing published", "GET", "/model", None, None, 503, "/model", 1),
    ("feedback no model", "nothing published", "POST", "/feedback", {"text": HAM, "label": "ham"},
     None, 202, "/feedback", 0),
    ("openapi no model", "nothing published", "GET", "/openapi.json", None, None, 200,
     "/openapi.json", 0),
    ("503 feedback store down", "s3 down", "POST", "/feedback", {"text": HAM, "label": "ham"},
     None, 503, "/feedback", 0),
]  # fmt: skip


@pytest.fixture
def set_up(request, bare_client, make_runtime, monkeypatch):
    """Put the app in one of the states ``ANSWERS`` names; the client to call it with."""

    def make(state: str) -> Any:
        if state == "served":
            request.getfixturevalue("published")
            make_runtime()
        elif state == "feedback off":
            request.getfixturevalue("published")
            make_runtime(feedback_enabled=False)
        elif state == "nothing published":
            make_runtime()
        elif state == "s3 down":
            make_runtime(s3=unreachable_s3()[0], model_bucket="spam-metrics-down")
        elif state == "not configured":
            monkeypatch.setenv("EXPLAIN_TOP_N", "lots")
            reset_runtime()
        elif state == "fault":
            request.getfixturevalue("published")
            make_runtime()
            from chalicelib import service

            def broken(raw_body: Any) -> Any:
                raise RuntimeError("a fault of ours")

            monkeypatch.setattr(service, "predict", broken)
        return bare_client

    yield make
    reset_runtime()


def call(client: Any, method: str, path: str, body: Any, content_type: str | None) -> Any:
    if method == "GET":
        return client.http.get(path)
    headers = {"Content-Type": content_type} if content_type else None
    return post(client, path, body, headers)


@pytest.mark.parametrize(
    ("state", "method", "path", "body", "content_type", "status", "route", "no_model"),
    [case[1:] for case in ANSWERS],
    ids=[case[0] for case in ANSWERS],
)
def test_every_answer_writes_its_request_figures_in_valid_emf(
    set_up, capsys, state, method, path, body, content_type, status, route, no_model
) -> None:
    client = set_up(state)
    capsys.readouterr()
    response = call(client, method, path, body, content_type)
    assert response.status_code == status, response.body
    lines = answers(capsys)
    line = request_line(lines)
    assert line.namespace == "SpamClassifier"
    assert line.dimensions["Stage"] == "local" and line.dimensions["Route"] == route
    assert {name: line.units[name] for name in fmt.REQUEST_METRICS} == {
        fmt.REQUESTS: "Count",
        fmt.LATENCY: "Milliseconds",
        fmt.STATUS_4XX: "Count",
        fmt.STATUS_5XX: "Count",
        fmt.NO_MODEL: "Count",
    }
    assert line.values[fmt.REQUESTS] == [1]
    assert line.values[fmt.STATUS_4XX] == [int(400 <= status < 500)]
    assert line.values[fmt.STATUS_5XX] == [int(status >= 500)]
    assert line.values[fmt.NO_MODEL] == [no_model]
    assert line.values[fmt.LATENCY][0] > 0
    scored = path.startswith("/predict") and status == 200
    assert (fmt.MESSAGES_SCORED in line.values) is scored


def test_the_no_model_alarm_watches_exactly_the_routes_that_answer_no_model() -> None:
    """With nothing published, every route is called above; those that count ``NoModel`` are
    the routes the stack's ``no-model`` alarm sums (a route missing there would never alarm)."""
    from app import app

    from stack.aws import cfn

    unloaded = [case for case in ANSWERS if case[1] == "nothing published"]
    assert {case[7] for case in unloaded} == set(app.routes)
    alarm = cfn.template()["Resources"]["NoModelAlarm"]["Properties"]
    watched = [
        query["MetricStat"]["Metric"]["Dimensions"][1]["Value"]
        for query in alarm["Metrics"]
        if "MetricStat" in query
    ]
    assert sorted(watched) == sorted(case[7] for case in unloaded if case[8])


def test_a_path_that_is_no_route_is_never_a_dimension_value(capsys) -> None:
    """``Route`` is one of the app's route patterns, or ``other``: never what a caller sent."""
    request = type("Request", (), {"path": "/predict/12345-a-request-id"})()
    with metrics.answer(request, {"/predict": {}}) as current:
        current.done(type("Response", (), {"status_code": 404})())
    (line,) = answers(capsys)
    assert line.dimensions["Route"] == metrics.OTHER_ROUTE
    assert line.values[fmt.STATUS_4XX] == [1]


# -- what the model figures say ------------------------------------------------------------


def test_a_predict_line_holds_its_message_figures_under_1_kb(
    bare_client, make_runtime, published, capsys, monkeypatch
) -> None:
    """The longest a /predict line gets: the first after a cold start, then every other."""
    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    make_runtime()
    assert warm_start() is True
    capsys.readouterr()
    post(bare_client, "/predict", {"text": HAM})
    response = post(bare_client, "/predict", {"text": SPAM, "explain": True})
    body = body_of(response)
    out = capsys.readouterr().out
    first, steady = emf_lines(out)
    assert '"ColdStarts":1' in first and '"ColdStarts"' not in steady
    for raw in (first, steady):
        assert len(raw.encode("utf-8")) < 1024, (len(raw.encode("utf-8")), raw)
    line = read_lines(out)[1]
    probability = body["spam_probability"]
    assert line.dimensions["ModelVersion"] == body["model_version"] == published.version
    assert line.values[fmt.MESSAGES_SCORED] == [1]
    assert line.values[fmt.SPAM_VERDICTS] == [int(body["classification"] == "SPAM")] == [1]
    assert line.values[fmt.SPAM_PROBABILITY] == [pytest.approx(probability, abs=5e-5)]
    assert line.values[fmt.TEXT_LENGTH] == [len(SPAM)]
    uncertain = is_uncertain(probability, body["threshold"], 0.1)
    assert line.values[fmt.UNCERTAIN_MESSAGES] == [int(uncertain)]
    assert line.units[fmt.SPAM_PROBABILITY] == "None" and line.units[fmt.TEXT_LENGTH] == "Count"


def test_the_uncertainty_band_is_the_setting(bare_client, make_runtime, published, capsys) -> None:
    """A band of 0.5 takes in every message; a band of 0 only those on the threshold."""
    texts = [SPAM, HAM, "call me when you can", "Free entry: text WIN to 80086 now"]
    for band, each in ((0.5, 1), (0.0, 0)):
        make_runtime(uncertainty_band=band)
        capsys.readouterr()
        response = post(bare_client, "/predict/batch", {"texts": texts})
        results = body_of(response)["results"]
        assert all(r["spam_probability"] != body_of(response)["threshold"] for r in results)
        (line,) = answers(capsys)
        assert line.values[fmt.UNCERTAIN_MESSAGES] == [each] * len(texts)  # one per message


def test_a_batch_is_split_at_100_values_with_its_request_figures_once(
    bare_client, make_runtime, published, capsys
) -> None:
    make_runtime(max_batch_size=250)
    texts = [f"{'lunch ' * (i % 7)}message {i} win a prize" for i in range(250)]
    capsys.readouterr()
    response = post(bare_client, "/predict/batch", {"texts": texts})
    results = body_of(response)["results"]
    lines = answers(capsys)
    assert [line.values[fmt.MESSAGES_SCORED] for line in lines] == [[100], [100], [50]]
    assert [len(line.values[fmt.SPAM_PROBABILITY]) for line in lines] == [100, 100, 50]
    assert request_line(lines) is lines[0]
    assert [length for line in lines for length in line.values[fmt.TEXT_LENGTH]] == [
        len(text) for text in texts
    ]
    probabilities = [p for line in lines for p in line.values[fmt.SPAM_PROBABILITY]]
    assert probabilities == [pytest.approx(r["spam_probability"], abs=5e-5) for r in results]
    spam = sum(r["classification"] == "SPAM" for r in results)
    assert total(lines, fmt.SPAM_VERDICTS) == spam and 0 < spam < 250
    # one 0/1 value per message, in order: the Sum is the count, the Average the rate
    verdicts = [v for line in lines for v in line.values[fmt.SPAM_VERDICTS]]
    assert verdicts == [int(r["classification"] == "SPAM") for r in results]
    assert sum(verdicts) / len(verdicts) == spam / 250
    threshold = body_of(response)["threshold"]
    uncertain = [v for line in lines for v in line.values[fmt.UNCERTAIN_MESSAGES]]
    assert uncertain == [int(is_uncertain(r["spam_probability"], threshold, 0.1)) for r in results]
    assert 0 < sum(uncertain) < 250
    assert {line.dimensions["ModelVersion"] for line in lines} == {
        body_of(response)["model_version"]
    }


def test_feedback_counts_reports_by_label_under_the_live_version(
    bare_client, make_runtime, capsys, published
) -> None:
    make_runtime()
    capsys.readouterr()
    for label in ("spam", "spam", "ham"):
        assert post(bare_client, "/feedback", {"text": HAM, "label": label}).status_code == 202
    lines = answers(capsys)
    assert len(lines) == 3
    assert total(lines, fmt.FEEDBACK_SPAM) == 2 and total(lines, fmt.FEEDBACK_HAM) == 1
    # the report scored the text with the live model: loaded by no one before, so no load
    assert {line.dimensions["ModelVersion"] for line in lines} == {fmt.NO_MODEL_VERSION}
    post(bare_client, "/predict", {"text": HAM})  # loads it
    capsys.readouterr()
    post(bare_client, "/feedback", {"text": HAM, "label": "spam"})
    (line,) = answers(capsys)
    assert line.dimensions["ModelVersion"] == published.version
    assert line.values[fmt.FEEDBACK_SPAM] == [1] and line.values[fmt.FEEDBACK_HAM] == [0]


def test_counts_equal_what_was_sent(api_client, capsys) -> None:
    capsys.readouterr()
    sent = {"/predict": 0, "/predict/batch": 0, "/feedback": 0, "/health": 0}
    verdicts = []
    for i in range(7):
        body = body_of(post(api_client, "/predict", {"text": SPAM if i % 2 else HAM}))
        verdicts.append(body["classification"])
        sent["/predict"] += 1
    for size in (3, 5):
        body = body_of(post(api_client, "/predict/batch", {"texts": [SPAM, HAM] * size}))
        verdicts += [r["classification"] for r in body["results"]]
        sent["/predict/batch"] += 1
    for label in ("spam", "ham", "ham"):
        post(api_client, "/feedback", {"text": SPAM, "label": label})
        sent["/feedback"] += 1
    for _ in range(2):
        api_client.http.get("/health")
        sent["/health"] += 1
    post(api_client, "/predict", {"text": ""})  # 400
    sent["/predict"] += 1
    lines = answers(capsys)
    for route, count in sent.items():
        assert total(lines, fmt.REQUESTS, Route=route) == count, route
    assert total(lines, fmt.STATUS_4XX) == 1 and total(lines, fmt.STATUS_5XX) == 0
    assert total(lines, fmt.MESSAGES_SCORED) == 7 + 2 * (3 + 5) == len(verdicts)
    assert total(lines, fmt.SPAM_VERDICTS) == verdicts.count("SPAM")
    assert total(lines, fmt.FEEDBACK_SPAM) == 1 and total(lines, fmt.FEEDBACK_HAM) == 2
    assert total(lines, fmt.MODEL_LOADS) == 1  # the first request loaded the model
    assert total(lines, fmt.MODEL_LOAD_FAILURES) == 0 and total(lines, fmt.COLD_STARTS) == 0


def test_no_text_nor_part_of_one_in_any_line(api_client, capsys) -> None:
    text = f"Claim your {MARKER} prize now at {MARKER}.example"
    capsys.readouterr()
    post(api_client, "/predict", {"text": text, "explain": True})
    post(api_client, "/predict/batch", {"texts": [text, HAM]})
    post(api_client, "/feedback", {"text": text, "label": "spam"})
    post(api_client, "/predict", {"text": text, "explain": "yes"})  # 400
    post(api_client, "/predict", {"text": text * 2_000})  # 413
    out = capsys.readouterr().out
    lines = emf_lines(out)
    assert len(lines) == 5
    assert MARKER.lower() not in out.lower()
    for line in lines:  # not a word of it either: numbers, names and the version only
        strings = [v for v in json.loads(line).values() if isinstance(v, str)]
        assert set(json.loads(line)) - {"_aws"} <= {
            "Stage", "Route", "ModelVersion", *metrics_names(line)
        }  # fmt: skip
        assert all(word.lower() not in s.lower() for s in strings for word in ("claim", "prize"))


def metrics_names(line: str) -> set[str]:
    blocks = json.loads(line)["_aws"]["CloudWatchMetrics"]
    return {metric["Name"] for block in blocks for metric in block["Metrics"]}


# -- the builder: its lines are exactly the document json writes -------------------------

_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
_values = st.one_of(_numbers, st.lists(_numbers, min_size=1, max_size=fmt.MAX_VALUES))
_request = st.fixed_dictionaries({}, optional=dict.fromkeys(fmt.REQUEST_METRICS, _values))
_model = st.fixed_dictionaries({}, optional=dict.fromkeys(fmt.MODEL_METRICS, _values))


@settings(max_examples=300, deadline=None)
@given(
    namespace=st.text(min_size=1, max_size=20),
    timestamp=st.integers(min_value=0, max_value=2**45),
    dimensions=st.fixed_dictionaries(
        {name: st.text(min_size=1, max_size=12) for name in ("Stage", "Route", "ModelVersion")}
    ),
    request_values=_request,
    model_values=_model,
    as_lists=st.booleans(),
)
def test_a_line_is_the_document_json_writes(
    namespace, timestamp, dimensions, request_values, model_values, as_lists
) -> None:
    """``emf_line`` formats numbers into a template of the line: the text must be json's own."""
    model_sets = [list(dims) for dims in fmt.MODEL_DIMENSIONS] if as_lists else fmt.MODEL_DIMENSIONS
    directives = [(fmt.REQUEST_DIMENSIONS, request_values), (model_sets, model_values)]
    line = emf_line(
        namespace=namespace,
        timestamp_ms=timestamp,
        dimensions=dimensions,
        directives=directives,
    )
    blocks = [
        {
            "Namespace": namespace,
            "Dimensions": [list(dims) for dims in sets],
            "Metrics": [{"Name": n, "Unit": fmt.METRIC_UNITS[n]} for n in values],
        }
        for sets, values in directives
        if values
    ]
    used = sorted({name for block in blocks for dims in block["Dimensions"] for name in dims})
    document = {"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": blocks}}
    document.update({name: dimensions[name] for name in used})
    document.update({**request_values, **model_values})
    assert line == json.dumps(document, separators=(",", ":"), allow_nan=False)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "is not a finite number"),
        (float("nan"), "is not a finite number"),
        ([1.0, float("inf")], "is not a finite number"),
        ([float("inf"), float("-inf")], "is not a finite number"),
        ([1e308, 1e308, float("nan")], "is not a finite number"),
        ([], "needs 1 to 100 values, got 0"),
        ([1] * 101, "needs 1 to 100 values, got 101"),
        ("1", "is not a finite number"),
    ],
)
def test_the_builder_still_refuses_what_is_not_a_metric_value(value, message) -> None:
    kwargs = {"namespace": "N", "timestamp_ms": 0, "dimensions": {"Stage": "s", "Route": "r"}}
    good = {fmt.REQUESTS: 1}
    with pytest.raises(MetricsFormatError, match=message):
        emf_line(**kwargs, directives=[(fmt.REQUEST_DIMENSIONS, {fmt.REQUESTS: value})])
    template = fmt.line_template(
        namespace="N", dimensions=kwargs["dimensions"], directives=[(fmt.REQUEST_DIMENSIONS, good)]
    )
    assert template.line(0, [1]) == emf_line(**kwargs, directives=[(fmt.REQUEST_DIMENSIONS, good)])
    with pytest.raises(MetricsFormatError, match=message):  # the template checks them too
        template.line(0, [value])
    with pytest.raises(MetricsFormatError, match="1 values needed, got 2"):
        template.line(0, [1, 1])
    with pytest.raises(MetricsFormatError, match="no value for dimension"):
        emf_line(
            **{**kwargs, "dimensions": {"Stage": "s"}}, directives=[(fmt.REQUEST_DIMENSIONS, good)]
        )
    with pytest.raises(MetricsFormatError, match="'Requests' appears in two directives"):
        emf_line(**kwargs, directives=[(fmt.REQUEST_DIMENSIONS, good)] * 2)
    with pytest.raises(MetricsFormatError, match="'Clicks' is not a metric of this format"):
        emf_line(**kwargs, directives=[(fmt.REQUEST_DIMENSIONS, {"Clicks": 1})])


# -- loads, failures and cold starts ride with the next answer -------------------------------


def test_a_cold_start_load_is_reported_in_the_first_answer_only(
    bare_client, make_runtime, published, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    make_runtime()
    assert warm_start() is True  # as the Lambda's import does
    capsys.readouterr()
    bare_client.http.get("/health")  # any answer: here one without model figures of its own
    post(bare_client, "/predict", {"text": SPAM})
    first, second = answers(capsys)
    assert first.dimensions["Route"] == "/health"
    assert first.values[fmt.COLD_STARTS] == [1] and first.values[fmt.MODEL_LOADS] == [1]
    assert fmt.MODEL_LOAD_FAILURES not in first.values  # only what happened is written
    assert first.dimensions["ModelVersion"] == published.version
    assert fmt.COLD_STARTS not in second.values and fmt.MODEL_LOADS not in second.values


def test_failed_loads_then_a_load_are_counted(
    bare_client, make_runtime, s3_client, bucket, bundle, clock, capsys
) -> None:
    runtime = make_runtime()
    capsys.readouterr()
    assert post(bare_client, "/predict", {"text": SPAM}).status_code == 503  # nothing published
    assert post(bare_client, "/predict", {"text": SPAM}).status_code == 503  # not retried yet
    manifest = publish(s3_client, bucket, PREFIX, bundle)
    clock.advance(runtime.settings.model_retry_seconds + 1)
    assert post(bare_client, "/predict", {"text": SPAM}).status_code == 200
    first, second, third = answers(capsys)
    assert first.values[fmt.MODEL_LOAD_FAILURES] == [1] and first.values[fmt.NO_MODEL] == [1]
    assert first.dimensions["ModelVersion"] == fmt.NO_MODEL_VERSION
    assert fmt.MODEL_LOAD_FAILURES not in second.values and second.values[fmt.NO_MODEL] == [1]
    assert third.values[fmt.MODEL_LOADS] == [1] and third.values[fmt.NO_MODEL] == [0]
    assert third.dimensions["ModelVersion"] == manifest.version


# -- turned off, failing, threads, cold path -----------------------------------------------


def test_nothing_is_written_with_metrics_disabled(
    bare_client, make_runtime, published, capsys
) -> None:
    make_runtime(metrics_enabled=False)
    capsys.readouterr()
    statuses = [
        post(bare_client, "/predict", {"text": SPAM}).status_code,
        post(bare_client, "/predict/batch", {"texts": [SPAM, HAM]}).status_code,
        post(bare_client, "/feedback", {"text": HAM, "label": "ham"}).status_code,
        post(bare_client, "/predict", {"text": ""}).status_code,
        bare_client.http.get("/predict").status_code,
        bare_client.http.get("/health").status_code,
    ]
    assert statuses == [200, 200, 202, 400, 405, 200]
    assert '"_aws"' not in capsys.readouterr().out


def test_the_setting_read_from_the_environment_turns_them_off(
    chalice_app, monkeypatch, capsys
) -> None:
    """The variable, read as every setting is; here with the deployment broken besides.

    Called as Lambda calls it, with the environment as set here (Chalice's test client
    would lay the ``local`` stage's variables over it).
    """
    monkeypatch.setenv("METRICS_ENABLED", "false")
    monkeypatch.setenv("MAX_TEXT_CHARS", "lots")
    reset_runtime()
    capsys.readouterr()
    assert chalice_app(proxy_event("GET", "/health"), LambdaContext())["statusCode"] == 500
    assert '"_aws"' not in capsys.readouterr().out
    monkeypatch.setenv("METRICS_ENABLED", "true")
    monkeypatch.setenv("STAGE_NAME", "prod")
    reset_runtime()
    assert chalice_app(proxy_event("GET", "/health"), LambdaContext())["statusCode"] == 500
    (line,) = answers(capsys)
    assert line.dimensions["Stage"] == "prod"  # the broken setting does not hide the stage
    assert line.values[fmt.STATUS_5XX] == [1]
    reset_runtime()


class BrokenStdout(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("stdout is gone")


def test_a_line_that_cannot_be_written_never_fails_the_answer(api_client, monkeypatch) -> None:
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logger = logging.getLogger("spam-api.metrics")
    logger.addHandler(handler)
    monkeypatch.setattr(metrics, "_failed_before", False)
    try:
        monkeypatch.setattr(sys, "stdout", BrokenStdout())
        first = post(api_client, "/predict", {"text": SPAM})
        second = post(api_client, "/predict/batch", {"texts": [SPAM]})
    finally:
        logger.removeHandler(handler)
    assert (first.status_code, second.status_code) == (200, 200)
    assert body_of(first)["classification"] == "SPAM"
    assert len(seen) == 1 and "could not write the metrics" in seen[0].getMessage()


def test_answers_on_threads_keep_their_own_figures(chalice_app, make_runtime, published, capsys):
    """``chalice local`` answers on threads: no answer's figures may land in another's line."""
    make_runtime()
    lengths = list(range(5, 85))

    def ask(length: int) -> None:
        if length % 2:
            body = {"text": "x" * length}
            event = proxy_event("POST", "/predict", body, headers=JSON)
        else:
            event = proxy_event("GET", "/health")
        response = chalice_app(event, LambdaContext())
        assert response["statusCode"] == 200, response_json(response)

    capsys.readouterr()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(ask, lengths))
    lines = answers(capsys)
    assert len(lines) == len(lengths)
    predicted = [line for line in lines if line.dimensions["Route"] == "/predict"]
    assert sorted(v for line in predicted for v in line.values[fmt.TEXT_LENGTH]) == [
        n for n in lengths if n % 2
    ]
    assert all(len(line.values[fmt.TEXT_LENGTH]) == 1 for line in predicted)
    others = [line for line in lines if line.dimensions["Route"] == "/health"]
    assert len(others) == len(lengths) // 2
    assert all(fmt.MESSAGES_SCORED not in line.values for line in others)


def test_importing_the_app_loads_no_module_it_did_not_load_before() -> None:
    """No new import on the cold path: the metrics use what the app already imported.

    The app is imported in fresh interpreters twice: as it is, and with the two metrics
    modules replaced by stand-ins that import nothing (every name they give is a dummy),
    which is the app as it was before them (at 207ed58 this gave exactly that commit's 248
    modules, plus the two stand-ins). Only the two modules themselves may differ; and
    writing an answer's lines afterwards imports nothing either.
    """
    stand_ins = (
        "import sys, types\n"
        "class Dummy:\n"
        "    def __call__(self, *a, **k): return self\n"
        "    def __getattr__(self, name): return self\n"
        "for name in ('chalicelib.metrics', 'chalicelib.metrics_format'):\n"
        "    module = types.ModuleType(name)\n"
        "    module.__getattr__ = lambda attr: Dummy()\n"
        "    sys.modules[name] = module\n"
    )
    listing = "import sys, app\nprint('\\n'.join(sorted(sys.modules)))\n"
    writing = (
        "from chalicelib.metrics import Answer, answer_lines\n"
        "from chalicelib.settings import Settings\n"
        "imported = set(sys.modules)\n"
        "answer = Answer('/predict/batch', Settings(), status=200, model_version='v',\n"
        "                probabilities=[0.5] * 150, verdicts=[True] * 150, lengths=[9] * 150)\n"
        "answer_lines(answer, timestamp_ms=0, counts=(1, 1, 1))\n"
        "print('written, new:', sorted(set(sys.modules) - imported))\n"
    )

    def run(code: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "METRICS_"))}
        return subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "PYTHONPATH": str(API_DIR)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    now = run(listing + writing).splitlines()
    before = set(run(stand_ins + listing).split())
    assert now[-1] == "written, new: []"
    assert "chalicelib.metrics" in now and "chalicelib.settings" in before
    assert set(now[:-1]) - before == set() and before - set(now[:-1]) == set()

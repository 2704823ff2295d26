"""``python -m trainer monitor --log``: the figures of a log's EMF lines, and the shift test.

The lines are built with the contract's own ``metrics_format.emf_line`` (tests.support);
the references are read from a registry on the session's moto S3 over HTTP.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support import answer_line, feedback_line, opaque_bundle, scored_line
from trainer.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from trainer.registry import publish
from trainer.shift import Reference, two_proportion_test

SKLEARN = "1.9.1"


pytestmark = pytest.mark.usefixtures("trainer_env")


def _published(s3_client, bucket: str, tag: str, summary: dict, metrics: dict | None = None):
    bundle = replace(
        opaque_bundle(SKLEARN, tag), metrics_summary=summary, metrics=metrics or summary
    )
    return publish(s3_client, bucket, "models/", bundle).version


def _write(tmp_path: Path, lines: list[str], name: str = "api.log") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _monitor(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["monitor", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _traffic(version: str, spam: int, ham: int, start_ms: int) -> list[str]:
    """One /predict line per message: ``spam`` at 0.9 then ``ham`` at 0.1, a ms apart."""
    probabilities = [0.9] * spam + [0.1] * ham
    return [
        scored_line(version, [p], timestamp_ms=start_ms + i) for i, p in enumerate(probabilities)
    ]


def test_counts_rates_percentiles_and_errors(tmp_path, capsys) -> None:
    version = "20261201T000000Z-aaaaaa"
    lines = [
        "INFO chalice local: Serving on http://127.0.0.1:8000",  # not EMF: skipped
        *(scored_line(version, [0.9], latency_ms=float(ms)) for ms in range(1, 101)),
        scored_line(version, [0.05, 0.45, 0.55, 0.95], route="/predict/batch", latency_ms=7.0),
        answer_line("/predict", 400),
        answer_line("/predict", 413),
        answer_line("/predict", 503, latency_ms=3.0),
        feedback_line(version, "ham"),
        feedback_line(version, "spam"),
        feedback_line("none", "spam"),  # taken while no model was loaded
        '127.0.0.1 - - [06/Dec/2026] "POST /predict HTTP/1.1" 200 -',
    ]
    code, out, err = _monitor(capsys, "--log", str(_write(tmp_path, lines)), "--json")
    assert code == EXIT_OK, err
    report = json.loads(out)
    assert list(report) == ["versions", "routes"]
    row, none = report["versions"]  # sorted by version id: "none" after the digits
    assert none == {
        "model_version": "none",
        "messages": 0,
        "spam_rate": None,
        "mean_spam_probability": None,
        "uncertain_share": None,
        "feedback_reports": 1,
        "shift": None,
    }
    assert row["model_version"] == version
    assert row["messages"] == 104
    assert row["spam_rate"] == pytest.approx(102 / 104)  # 100 at 0.9, then 0.55 and 0.95
    assert row["mean_spam_probability"] == pytest.approx((90 + 2.0) / 104)
    assert row["uncertain_share"] == pytest.approx(2 / 104)  # 0.45 and 0.55, band 0.1 of 0.5
    assert row["feedback_reports"] == 2
    assert row["shift"] is None  # no registry, and 104 messages < the window of 1000
    routes = {r["route"]: r for r in report["routes"]}
    assert list(routes) == ["/feedback", "/predict", "/predict/batch"]
    predict = routes["/predict"]
    assert predict["requests"] == 103
    # 1..100 ms, 1, 1 and 3 ms: linear interpolation between closest ranks (numpy's default)
    assert predict["latency_ms_p50"] == pytest.approx(49.0)
    assert predict["latency_ms_p99"] == pytest.approx(98.98)
    assert (predict["errors_4xx"], predict["errors_5xx"]) == (2, 1)
    assert routes["/predict/batch"] == {
        "route": "/predict/batch",
        "requests": 1,
        "latency_ms_p50": 7.0,
        "latency_ms_p99": 7.0,
        "errors_4xx": 0,
        "errors_5xx": 0,
    }
    assert routes["/feedback"]["requests"] == 3


def test_the_table_says_the_same(tmp_path, capsys) -> None:
    version = "20261201T000000Z-aaaaaa"
    lines = [
        scored_line(version, [0.9, 0.1], route="/predict/batch"),
        feedback_line(version, "ham"),
    ]
    code, out, _ = _monitor(capsys, "--log", str(_write(tmp_path, lines)))
    assert code == EXIT_OK
    row = next(line for line in out.splitlines() if line.startswith(version))
    # messages, spam rate, mean P(spam), uncertain, feedback, per 1,000 messages
    assert row.split()[1:] == ["2", "50.0", "%", "0.500", "0.0", "%", "1", "500.0"]
    assert "no shift test (no registry to read its reference from" in out
    assert any(line.split()[:2] == ["/predict/batch", "1"] for line in out.splitlines())


def test_a_shift_in_the_newest_window_is_flagged(tmp_path, capsys, s3_client, bucket, s3_endpoint):
    """1000 messages at the reference's 12 %, then the newest 1000 at 29 %."""
    reference = {"predicted_spam_rate": 0.12, "holdout_messages": 1032, "mcc": 0.97}
    version = _published(s3_client, bucket, "shift", reference)
    lines = _traffic(version, 120, 880, start_ms=0) + _traffic(version, 290, 710, start_ms=10_000)
    log = _write(tmp_path, lines)
    registry = ["--bucket", bucket, "--endpoint-url", s3_endpoint]
    code, out, err = _monitor(capsys, "--log", str(log), "--json", *registry)
    assert code == EXIT_OK, err
    (row,) = json.loads(out)["versions"]
    expected = two_proportion_test(Reference(0.12, 1032), live_spam=290, live_n=1000)
    assert row["shift"] == expected.as_dict()
    assert row["shift"]["flagged"] and row["shift"]["z"] > 8
    assert row["messages"] == 2000 and row["spam_rate"] == pytest.approx(0.205)
    # a window of both halves: 410 of 2000
    code, out, _ = _monitor(capsys, "--log", str(log), "--json", "--window", "2000", *registry)
    (row,) = json.loads(out)["versions"]
    assert (row["shift"]["live_n"], row["shift"]["live_rate"]) == (2000, 0.205)
    # the older half alone is the reference's share: not flagged
    old = _write(tmp_path, _traffic(version, 120, 880, start_ms=0), "old.log")
    code, out, _ = _monitor(capsys, "--log", str(old), "--json", *registry)
    (row,) = json.loads(out)["versions"]
    assert row["shift"]["live_rate"] == 0.12 and not row["shift"]["flagged"]
    assert row["shift"]["alpha"] == 0.01
    # the table says it in words
    code, out, _ = _monitor(capsys, "--log", str(log), *registry)
    assert f"{version}: live 29.0 % of 1,000 against 12.0 % of 1,032" in out
    assert "SHIFTED at α = 0.01" in out


def test_lines_out_of_order_are_windowed_by_their_timestamps(tmp_path, capsys, s3_client, bucket):
    """chalice local answers on threads: a window is the newest messages, not the last lines."""
    reference = {"predicted_spam_rate": 0.5, "holdout_messages": 100}
    version = _published(s3_client, bucket, "order", reference)
    newest = _traffic(version, 10, 0, start_ms=1_000)
    oldest = _traffic(version, 0, 10, start_ms=0)
    log = _write(tmp_path, newest + oldest)
    registry = ["--bucket", bucket, "--endpoint-url", s3_client.meta.endpoint_url]
    _, out, _ = _monitor(capsys, "--log", str(log), "--json", "--window", "10", *registry)
    assert json.loads(out)["versions"][0]["shift"]["live_rate"] == 1.0


def test_references_from_the_manifest_then_metrics_json_else_none(
    tmp_path, capsys, s3_client, bucket, s3_endpoint
) -> None:
    older = {"holdout": {"n": 500, "confusion": {"tp": 50, "fp": 10, "tn": 430, "fn": 10}}}
    from_metrics = _published(s3_client, bucket, "older", {"mcc": 0.9}, metrics=older)
    without = _published(s3_client, bucket, "elsewhere", {"mcc": 0.9})
    unknown = "20200101T000000Z-000000"
    lines = [
        line
        for version in (from_metrics, without, unknown)
        for line in _traffic(version, 100, 900, start_ms=0)
    ]
    registry = ["--bucket", bucket, "--endpoint-url", s3_endpoint]
    code, out, err = _monitor(capsys, "--log", str(_write(tmp_path, lines)), "--json", *registry)
    assert code == EXIT_OK, err
    rows = {row["model_version"]: row for row in json.loads(out)["versions"]}
    shift = rows[from_metrics]["shift"]
    assert (shift["reference_rate"], shift["reference_n"]) == (0.12, 500)
    assert rows[without]["shift"] is None and rows[unknown]["shift"] is None
    _, table, _ = _monitor(capsys, "--log", str(_write(tmp_path, lines)), *registry)
    assert f"{without}: no shift test (its metrics record no predicted spam share" in table
    assert f"{unknown}: no shift test (not a version of the registry s3://{bucket}/models/" in table


def test_too_few_messages_for_the_window_is_said(tmp_path, capsys, s3_client, bucket) -> None:
    version = _published(
        s3_client, bucket, "few", {"predicted_spam_rate": 0.1, "holdout_messages": 100}
    )
    log = _write(tmp_path, _traffic(version, 5, 5, start_ms=0))
    registry = ["--bucket", bucket, "--endpoint-url", s3_client.meta.endpoint_url]
    _, out, _ = _monitor(capsys, "--log", str(log), *registry)
    assert f"{version}: no shift test (10 messages, fewer than the window of 1,000)" in out
    _, out, _ = _monitor(capsys, "--log", str(log), "--json", "--window", "10", *registry)
    assert json.loads(out)["versions"][0]["shift"]["live_n"] == 10


def test_stages_namespaces_and_since_select_lines(tmp_path, capsys) -> None:
    now_ms = int(time.time() * 1000)
    version = "20261201T000000Z-aaaaaa"
    lines = [
        scored_line(version, [0.9], stage="dev", timestamp_ms=now_ms),
        scored_line(version, [0.9, 0.1], stage="prod", timestamp_ms=now_ms - 3 * 3600_000),
        scored_line(version, [0.1], stage="prod", timestamp_ms=now_ms),
        answer_line("/predict", 400, namespace="Other", stage="prod"),
    ]
    log = str(_write(tmp_path, lines))
    code, _, err = _monitor(capsys, "--log", log)
    assert code == EXIT_ERROR
    assert "holds the metrics of stages dev, prod: pass --stage" in err

    def messages(*argv: str) -> int:
        code, out, err = _monitor(capsys, "--log", log, "--json", *argv)
        assert code == EXIT_OK, err
        return json.loads(out)["versions"][0]["messages"]

    assert messages("--stage", "prod") == 3
    assert messages("--stage", "prod", "--since", "1h") == 1
    assert messages("--stage", "dev") == 1
    code, out, err = _monitor(capsys, "--log", log, "--json", "--namespace", "Other")
    assert code == EXIT_OK, err
    assert json.loads(out) == {
        "versions": [],
        "routes": [
            {
                "route": "/predict",
                "requests": 1,
                "latency_ms_p50": 1.0,
                "latency_ms_p99": 1.0,
                "errors_4xx": 1,
                "errors_5xx": 0,
            }
        ],
    }


def test_errors_name_the_file_and_line(tmp_path, capsys) -> None:
    code, _, err = _monitor(capsys, "--log", str(tmp_path / "missing.log"))
    assert code == EXIT_ERROR
    assert f"error: no such log file: {tmp_path / 'missing.log'}" in err

    good = scored_line("v1", [0.9])
    broken = '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "SpamClassifier"}]}}'
    log = _write(tmp_path, ["plain text", good, broken, good])
    code, out, err = _monitor(capsys, "--log", str(log))
    assert code == EXIT_ERROR and out == ""
    assert f"error: {log}:3: not a valid EMF line" in err

    quiet = _write(tmp_path, ["only the server's own lines", "GET /health 200"], "quiet.log")
    code, _, err = _monitor(capsys, "--log", str(quiet))
    assert code == EXIT_ERROR
    assert f"error: no metrics of namespace SpamClassifier in {quiet}" in err

    other = _write(tmp_path, [answer_line("/predict", 200, namespace="Mine")], "other.log")
    code, _, err = _monitor(capsys, "--log", str(other))
    assert code == EXIT_ERROR
    assert "it has EMF lines of namespace Mine (--namespace)" in err

    code, _, err = _monitor(capsys, "--log", str(tmp_path))
    assert code == EXIT_ERROR and "error: cannot read the log" in err


def test_only_zero_counts_is_no_metrics_in_the_window(tmp_path, capsys) -> None:
    from chalicelib import metrics_format as mf

    load = mf.emf_line(
        namespace=mf.DEFAULT_NAMESPACE,
        timestamp_ms=0,
        dimensions={"Stage": "local", "ModelVersion": "v1"},
        directives=[(mf.MODEL_DIMENSIONS, {mf.MODEL_LOADS: 1})],
    )
    code, _, err = _monitor(capsys, "--log", str(_write(tmp_path, [load])))
    assert code == EXIT_ERROR and "error: no metrics in the window (log " in err


@pytest.mark.parametrize(
    "argv",
    [
        [],  # neither --stage (CloudWatch) nor --log
        ["--log", "x.log", "--alpha", "0"],
        ["--log", "x.log", "--alpha", "1"],
        ["--log", "x.log", "--window", "0"],
        ["--log", "x.log", "--since", "1 week"],
        ["--log", "x.log", "--since", "0h"],
    ],
)
def test_usage_errors_exit_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["monitor", *argv])
    assert exc.value.code == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err

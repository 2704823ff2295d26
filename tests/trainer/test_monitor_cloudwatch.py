"""``python -m trainer monitor --stage``: the figures read back from CloudWatch.

Sums, counts and averages against moto's CloudWatch over HTTP (the session's moto server):
the API's EMF lines are put as CloudWatch turns them into metrics, and ``monitor`` must
read back what ``monitor --log`` reads from the lines themselves. moto 5.2.5 cannot answer
a percentile (a 500, pinned below), so there the percentile queries are taken out of the
requests, and botocore's Stubber checks the percentile requests and answers instead.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

import trainer.monitor
from tests.support import answer_line, feedback_line, scored_line
from trainer.cli import EXIT_ERROR, EXIT_OK, build_parser, main
from trainer.monitor import run_monitor

MINUTE_MS = 60_000


@pytest.fixture
def cloudwatch_endpoint(monkeypatch, s3_endpoint) -> str:
    """The session's moto server as CloudWatch's endpoint (boto3 reads the variable)."""
    for name in ("MODEL_BUCKET", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", s3_endpoint)
    return s3_endpoint


@pytest.fixture
def stage() -> str:
    """A stage of its own per test: the moto server's CloudWatch is shared."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def without_percentiles(monkeypatch) -> list[str]:
    """Take the percentile queries out of monitor's requests (moto fails on them).

    Returns the statistics removed, so a test can see they were asked for.
    """
    removed: list[str] = []
    make = trainer.monitor._cloudwatch

    def drop(params: dict[str, Any], **_: Any) -> None:
        queries = params["MetricDataQueries"]
        kept = [q for q in queries if not q["MetricStat"]["Stat"].startswith("p")]
        removed.extend(q["MetricStat"]["Stat"] for q in queries if q not in kept)
        params["MetricDataQueries"] = kept

    def client(region: str | None) -> Any:
        cloudwatch = make(region)
        cloudwatch.meta.events.register("provide-client-params.cloudwatch.GetMetricData", drop)
        return cloudwatch

    monkeypatch.setattr(trainer.monitor, "_cloudwatch", client)
    return removed


def put_as_cloudwatch_would(cloudwatch: Any, lines: list[str]) -> None:
    """What CloudWatch makes of EMF lines: each metric under each of its dimension sets.

    A line's values of one metric are put as their statistic set (PutMetricData's
    ``StatisticValues``): Sum, SampleCount and Average read the same as from the values
    themselves, and moto, which keeps each value as a datum and scans them all for every
    period of every query, stays fast with a 0/1 value per message (percentiles are stubbed).
    """
    data: dict[str, list[dict[str, Any]]] = {}
    for text in lines:
        line = json.loads(text)
        at = datetime.fromtimestamp(line["_aws"]["Timestamp"] / 1000, UTC)
        for block in line["_aws"]["CloudWatchMetrics"]:
            for dims in block["Dimensions"]:
                for metric in block["Metrics"]:
                    raw = line[metric["Name"]]
                    values = raw if isinstance(raw, list) else [raw]
                    data.setdefault(block["Namespace"], []).append(
                        {
                            "MetricName": metric["Name"],
                            "Dimensions": [{"Name": d, "Value": line[d]} for d in dims],
                            "StatisticValues": {
                                "SampleCount": len(values),
                                "Sum": sum(values),
                                "Minimum": min(values),
                                "Maximum": max(values),
                            },
                            "Unit": metric["Unit"],
                            "Timestamp": at,
                        }
                    )
    for namespace, items in data.items():
        for first in range(0, len(items), 500):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=items[first : first + 500])


def _cloudwatch(endpoint: str) -> Any:
    return boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")


def _monitor_json(capsys, *argv: str) -> dict[str, Any]:
    code = main(["monitor", "--json", *argv])
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    return json.loads(out)


def _minutes_ago(minutes: float) -> int:
    return int((datetime.now(UTC) - timedelta(minutes=minutes)).timestamp() * 1000)


def test_moto_cannot_read_percentiles(cloudwatch_endpoint, stage) -> None:
    """Pinned: moto 5.2.5 answers a percentile query with a 500 (a newer moto may not)."""
    cloudwatch = _cloudwatch(cloudwatch_endpoint)
    line = answer_line("/predict", 200, stage=stage, timestamp_ms=_minutes_ago(5))
    put_as_cloudwatch_would(cloudwatch, [line])
    dims = [{"Name": "Stage", "Value": stage}, {"Name": "Route", "Value": "/predict"}]
    metric = {"Namespace": "SpamClassifier", "MetricName": "Latency", "Dimensions": dims}
    query = {"Id": "q0", "MetricStat": {"Metric": metric, "Period": 3600, "Stat": "p99"}}
    now = datetime.now(UTC)
    with pytest.raises(ClientError, match=r"\(500\)"):
        cloudwatch.get_metric_data(
            MetricDataQueries=[query], StartTime=now - timedelta(hours=1), EndTime=now
        )


def test_sums_counts_and_averages_read_back_equal_the_logs(
    cloudwatch_endpoint, stage, without_percentiles, tmp_path, capsys
) -> None:
    version = "20261201T000000Z-aaaaaa"
    lines = [
        *(
            scored_line(version, [p], stage=stage, timestamp_ms=_minutes_ago(30 + i % 7))
            for i, p in enumerate([0.9, 0.1, 0.45, 0.2, 0.05, 0.7, 0.1, 0.3])
        ),
        scored_line(
            version,
            [0.05, 0.55, 0.95],
            stage=stage,
            route="/predict/batch",
            timestamp_ms=_minutes_ago(20),
        ),
        answer_line("/predict", 400, stage=stage, timestamp_ms=_minutes_ago(10)),
        answer_line("/predict", 503, stage=stage, timestamp_ms=_minutes_ago(9)),
        feedback_line(version, "spam", stage=stage, timestamp_ms=_minutes_ago(8)),
        feedback_line(version, "ham", stage=stage, timestamp_ms=_minutes_ago(7)),
    ]
    put_as_cloudwatch_would(_cloudwatch(cloudwatch_endpoint), lines)
    log = tmp_path / "api.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")

    aws = _monitor_json(capsys, "--stage", stage, "--region", "us-east-1")
    local = _monitor_json(capsys, "--log", str(log))
    assert sorted(set(without_percentiles)) == ["p50", "p99"]
    (row,) = aws["versions"]
    assert row == local["versions"][0] | {
        "mean_spam_probability": pytest.approx(local["versions"][0]["mean_spam_probability"])
    }
    assert row["messages"] == 11 and row["feedback_reports"] == 2
    assert row["spam_rate"] == pytest.approx(4 / 11)  # 0.9, 0.7, 0.55, 0.95
    assert row["uncertain_share"] == pytest.approx(2 / 11)  # 0.45 and 0.55: within 0.1 of 0.5
    assert row["mean_spam_probability"] == pytest.approx(4.35 / 11)
    for aws_route, log_route in zip(aws["routes"], local["routes"], strict=True):
        without_latency = {"latency_ms_p50": None, "latency_ms_p99": None}
        assert aws_route == log_route | without_latency  # moto has no percentiles
    counts = [(r["route"], r["requests"], r["errors_4xx"], r["errors_5xx"]) for r in aws["routes"]]
    assert counts == [("/feedback", 2, 0, 0), ("/predict", 10, 1, 1), ("/predict/batch", 1, 0, 0)]


@pytest.mark.slow  # moto takes ~10 s to step through 2000 messages' minutes
def test_the_window_is_the_newest_minutes(
    cloudwatch_endpoint, stage, without_percentiles, s3_client, bucket, capsys
) -> None:
    """Two hours ago at the reference's 12 %, the last half hour at 29 %: flagged."""
    from dataclasses import replace

    from tests.support import opaque_bundle
    from trainer.registry import publish

    summary = {"predicted_spam_rate": 0.12, "holdout_messages": 1032}
    bundle = replace(opaque_bundle("1.9.1", "cw"), metrics_summary=summary)
    version = publish(s3_client, bucket, "models/", bundle).version
    old = [0.9] * 120 + [0.1] * 880
    new = [0.9] * 290 + [0.1] * 710
    # one line of 100 messages a minute: the old ones from 2 hours ago back, the new ones up to
    # 21 minutes ago
    lines = [
        scored_line(version, traffic[i : i + 100], stage=stage, timestamp_ms=_minutes_ago(at(i)))
        for traffic, at in ((old, lambda i: 120 + i / 100), (new, lambda i: 30 - i / 100))
        for i in range(0, 1000, 100)
    ]
    put_as_cloudwatch_would(_cloudwatch(cloudwatch_endpoint), lines)
    registry = ["--bucket", bucket, "--endpoint-url", s3_client.meta.endpoint_url]
    # 3 hours, not the default 24: moto steps through every minute of every query, slowly
    (row,) = _monitor_json(capsys, "--stage", stage, "--since", "3h", *registry)["versions"]
    assert row["messages"] == 2000
    shift = row["shift"]
    assert (shift["live_n"], shift["live_rate"]) == (1000, 0.29)
    assert (shift["reference_rate"], shift["reference_n"]) == (0.12, 1032)
    assert shift["flagged"] and shift["z"] > 8
    (row,) = _monitor_json(capsys, "--stage", stage, "--since", "1h", *registry)["versions"]
    assert row["messages"] == 1000  # the older traffic is outside the span
    # 1500: the new half and the newest 5 minutes of the old one, which held its 120 spam
    argv = ["--stage", stage, "--since", "3h", "--window", "1500", *registry]
    (row,) = _monitor_json(capsys, *argv)["versions"]
    assert (row["shift"]["live_n"], row["shift"]["live_rate"]) == (1500, (290 + 120) / 1500)


@pytest.mark.slow
def test_more_queries_than_one_call_takes(
    cloudwatch_endpoint, stage, without_percentiles, capsys
) -> None:
    """60 versions read 540 figures: GetMetricData takes 500 queries a call."""
    versions = [f"20261201T0000{i:02d}Z-aaaaaa" for i in range(60)]
    lines = [
        scored_line(v, [0.9] * (i + 1), stage=stage, timestamp_ms=_minutes_ago(5))
        for i, v in enumerate(versions)
    ]
    put_as_cloudwatch_would(_cloudwatch(cloudwatch_endpoint), lines)
    # a short span: moto steps through every period of every query, slowly
    rows = _monitor_json(capsys, "--stage", stage, "--since", "10m")["versions"]
    assert [(r["model_version"], r["messages"]) for r in rows] == [
        (v, i + 1) for i, v in enumerate(versions)
    ]


def test_a_stage_with_no_metrics_is_an_error(cloudwatch_endpoint, stage, capsys) -> None:
    assert main(["monitor", "--stage", stage]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert f"error: no metrics in the window (CloudWatch, stage {stage}, namespace Spam" in err


def test_no_credentials_and_no_region_are_said(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it keeps the credentials it found
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")  # never reached
    assert main(["monitor", "--stage", "prod"]) == EXIT_ERROR
    assert "error: no AWS region: pass --region or set AWS_REGION" in capsys.readouterr().err
    assert main(["monitor", "--stage", "prod", "--region", "eu-west-1"]) == EXIT_ERROR
    assert "error: no AWS credentials: run aws configure" in capsys.readouterr().err


NOW = datetime(2026, 12, 6, 10, 0, 30, tzinfo=UTC)
START, END = datetime(2026, 12, 5, 10, 1, tzinfo=UTC), datetime(2026, 12, 6, 10, 1, tzinfo=UTC)


def _stubbed(monkeypatch) -> Stubber:
    """A Stubber on the CloudWatch client ``monitor`` makes."""
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    monkeypatch.setattr(trainer.monitor, "_cloudwatch", lambda region: cloudwatch)
    return Stubber(cloudwatch)


def _route_query(index: int, stat: str, metric: str) -> dict[str, Any]:
    dims = [{"Name": "Stage", "Value": "prod"}, {"Name": "Route", "Value": "/predict"}]
    return {
        "Id": f"q{index}",
        "MetricStat": {
            "Metric": {"Namespace": "SpamClassifier", "MetricName": metric, "Dimensions": dims},
            "Period": 86400,  # one period: the whole span
            "Stat": stat,
        },
        "ReturnData": True,
    }


def _result(index: int, *values: float) -> dict[str, Any]:
    at = [START + timedelta(hours=i) for i in range(len(values))]
    return {"Id": f"q{index}", "Timestamps": at, "Values": list(values), "StatusCode": "Complete"}


def test_percentiles_are_asked_over_the_whole_span_and_read_back(monkeypatch, capsys) -> None:
    stubber = _stubbed(monkeypatch)
    route = {"Name": "Route", "Value": "/predict"}
    stubber.add_response(
        "list_metrics",
        {
            "Metrics": [
                {
                    "Namespace": "SpamClassifier",
                    "MetricName": "Latency",
                    "Dimensions": [{"Name": "Stage", "Value": "prod"}, route],
                }
            ]
        },
        {"Namespace": "SpamClassifier", "Dimensions": [{"Name": "Stage", "Value": "prod"}]},
    )
    reads = [("Sum", "Requests"), ("p50", "Latency"), ("p99", "Latency")]
    reads += [("Sum", "Status4xx"), ("Sum", "Status5xx")]
    stubber.add_response(
        "get_metric_data",
        {
            "MetricDataResults": [
                _result(0, 1200.0),
                _result(1, 12.5),
                _result(2, 80.0, 95.5),  # were the span split, the larger part's
                _result(3, 7.0),
                _result(4, 2.0),
            ]
        },
        {
            "MetricDataQueries": [_route_query(i, s, m) for i, (s, m) in enumerate(reads)],
            "StartTime": START,
            "EndTime": END,
        },
    )
    args = build_parser().parse_args(["monitor", "--stage", "prod", "--json"])
    with stubber:
        run_monitor(args, None, now=NOW)
    stubber.assert_no_pending_responses()
    assert json.loads(capsys.readouterr().out) == {
        "versions": [],
        "routes": [
            {
                "route": "/predict",
                "requests": 1200,
                "latency_ms_p50": 12.5,
                "latency_ms_p99": 95.5,
                "errors_4xx": 7,
                "errors_5xx": 2,
            }
        ],
    }


def test_a_cloudwatch_refusal_is_an_error_in_words(monkeypatch, capsys) -> None:
    stubber = _stubbed(monkeypatch)
    stubber.add_client_error(
        "list_metrics",
        service_error_code="AccessDenied",
        service_message="User is not authorized to perform: cloudwatch:ListMetrics",
        http_status_code=403,
    )
    with stubber:
        assert main(["monitor", "--stage", "prod"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "error: CloudWatch: An error occurred (AccessDenied)" in err
    assert "cloudwatch:ListMetrics" in err

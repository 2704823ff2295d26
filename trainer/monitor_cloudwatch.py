"""``trainer monitor`` on AWS: the API's figures read back from CloudWatch.

``ListMetrics`` finds the model versions present under ``[Stage, ModelVersion]`` and the
routes under ``[Stage, Route]`` (CloudWatch lists metrics that received data in the last
two weeks); ``GetMetricData`` then reads, for the span:

- totals in one period covering the whole span: sums of the counts (a spam verdict and an
  uncertain message are a 0/1 value per message, so their sums are counts too), the spam
  probability's sum and sample count (its mean), and each route's latency p50 and p99 (a
  percentile over every value, which periods could not be combined into);
- per version, messages and spam verdicts per minute (per 5 minutes or per hour for spans
  older than CloudWatch keeps minutes: 15 and 63 days), the buckets of the shift test's
  window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from chalicelib import metrics_format as mf

from trainer.monitor_figures import Figures, RouteFigures, VersionCounts

__all__ = ["MAX_QUERIES", "Span", "read_cloudwatch", "span_ending"]

#: ``GetMetricData`` takes at most this many queries per call.
MAX_QUERIES = 500

# (statistic, metric) read per version over the whole span, and per bucket for the window
_VERSION_TOTALS = (
    ("Sum", mf.MESSAGES_SCORED),
    ("Sum", mf.SPAM_VERDICTS),
    ("Sum", mf.SPAM_PROBABILITY),
    ("SampleCount", mf.SPAM_PROBABILITY),
    ("Sum", mf.UNCERTAIN_MESSAGES),
    ("Sum", mf.FEEDBACK_SPAM),
    ("Sum", mf.FEEDBACK_HAM),
)
_VERSION_BUCKETS = (("Sum", mf.MESSAGES_SCORED), ("Sum", mf.SPAM_VERDICTS))
_ROUTE_TOTALS = (
    ("Sum", mf.REQUESTS),
    ("p50", mf.LATENCY),
    ("p99", mf.LATENCY),
    ("Sum", mf.STATUS_4XX),
    ("Sum", mf.STATUS_5XX),
)


@dataclass(frozen=True)
class Span:
    """The time read: whole periods of ``period`` seconds from ``start`` to ``end``."""

    start: datetime
    end: datetime
    period: int

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


def span_ending(now: datetime, since: timedelta) -> Span:
    """The span of ``since`` up to ``now``, in whole periods CloudWatch still keeps.

    >>> s = span_ending(datetime(2026, 12, 6, 10, 0, 30, tzinfo=UTC), timedelta(hours=24))
    >>> s.start.isoformat(), s.end.isoformat(), s.period
    ('2026-12-05T10:01:00+00:00', '2026-12-06T10:01:00+00:00', 60)
    >>> span_ending(datetime(2026, 12, 6, tzinfo=UTC), timedelta(days=30)).period
    300
    """
    seconds = since.total_seconds()
    period = 60 if seconds <= 15 * 86400 else 300 if seconds <= 63 * 86400 else 3600
    end = datetime.fromtimestamp(math.ceil(now.timestamp() / 60) * 60, UTC)
    if end == now.astimezone(UTC):
        end += timedelta(minutes=1)  # the minute that starts now is not over yet
    periods = max(1, math.ceil(seconds / period))
    return Span(start=end - timedelta(seconds=periods * period), end=end, period=period)


def _listed(cloudwatch: Any, namespace: str, stage: str) -> tuple[list[str], list[str]]:
    """The model versions and routes with metrics of ``stage`` (CloudWatch's last two weeks)."""
    versions, routes = set(), set()
    pages = cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=namespace, Dimensions=[{"Name": mf.DIMENSION_STAGE, "Value": stage}]
    )
    for page in pages:
        for metric in page.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if set(dims) == {mf.DIMENSION_STAGE, mf.DIMENSION_MODEL_VERSION}:
                versions.add(dims[mf.DIMENSION_MODEL_VERSION])
            elif set(dims) == {mf.DIMENSION_STAGE, mf.DIMENSION_ROUTE}:
                routes.add(dims[mf.DIMENSION_ROUTE])
    return sorted(versions), sorted(routes)


class _Read(NamedTuple):
    """One statistic of one metric under [Stage, ``dimension``=``value``]."""

    dimension: str
    value: str
    stat: str
    metric: str
    bucketed: bool  # per bucket (the window's), else one period for the whole span


_Points = list[tuple[datetime, float]]


def _reads(versions: list[str], routes: list[str]) -> list[_Read]:
    per_version = [(False, stat, m) for stat, m in _VERSION_TOTALS] + [
        (True, stat, m) for stat, m in _VERSION_BUCKETS
    ]
    return [
        _Read(mf.DIMENSION_MODEL_VERSION, v, stat, metric, bucketed)
        for v in versions
        for bucketed, stat, metric in per_version
    ] + [
        _Read(mf.DIMENSION_ROUTE, r, stat, metric, False)
        for r in routes
        for stat, metric in _ROUTE_TOTALS
    ]


def _request(index: int, read: _Read, namespace: str, stage: str, span: Span) -> dict[str, Any]:
    dimensions = [
        {"Name": mf.DIMENSION_STAGE, "Value": stage},
        {"Name": read.dimension, "Value": read.value},
    ]
    return {
        "Id": f"q{index}",
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": read.metric, "Dimensions": dimensions},
            "Period": span.period if read.bucketed else span.seconds,
            "Stat": read.stat,
        },
        "ReturnData": True,
    }


def _results(
    cloudwatch: Any, reads: list[_Read], namespace: str, stage: str, span: Span
) -> dict[_Read, _Points]:
    """Each read's ``(timestamp, value)`` points, in calls of at most ``MAX_QUERIES``."""
    requests = [_request(i, read, namespace, stage, span) for i, read in enumerate(reads)]
    by_id = {request["Id"]: read for request, read in zip(requests, reads, strict=True)}
    found: dict[_Read, _Points] = {read: [] for read in reads}
    paginator = cloudwatch.get_paginator("get_metric_data")
    for first in range(0, len(requests), MAX_QUERIES):
        chunk = requests[first : first + MAX_QUERIES]
        for page in paginator.paginate(
            MetricDataQueries=chunk, StartTime=span.start, EndTime=span.end
        ):
            for result in page.get("MetricDataResults", []):
                points = zip(result.get("Timestamps", []), result.get("Values", []), strict=True)
                found[by_id[result["Id"]]].extend(points)
    return found


def _sum(points: _Points) -> float:
    return sum(value for _, value in points)


def _count(points: _Points) -> int:
    return round(_sum(points))


def _percentile(points: _Points) -> float | None:
    """The span's percentile: one period covers it; were it split, the largest part's."""
    return max((value for _, value in points), default=None)


def _reader(found: Mapping[_Read, _Points], dimension: str, value: str) -> Callable[..., _Points]:
    """``points(stat, metric, bucketed=False)``: what one version's or route's reads found."""

    def points(stat: str, metric: str, bucketed: bool = False) -> _Points:
        return found[_Read(dimension, value, stat, metric, bucketed)]

    return points


def _version_counts(version: str, found: Mapping[_Read, _Points]) -> VersionCounts:
    points = _reader(found, mf.DIMENSION_MODEL_VERSION, version)
    messages = dict(points("Sum", mf.MESSAGES_SCORED, bucketed=True))
    spam = dict(points("Sum", mf.SPAM_VERDICTS, bucketed=True))
    return VersionCounts(
        model_version=version,
        messages=_count(points("Sum", mf.MESSAGES_SCORED)),
        spam=_count(points("Sum", mf.SPAM_VERDICTS)),
        probability_sum=_sum(points("Sum", mf.SPAM_PROBABILITY)),
        probabilities=_count(points("SampleCount", mf.SPAM_PROBABILITY)),
        uncertain=_count(points("Sum", mf.UNCERTAIN_MESSAGES)),
        feedback=_count(points("Sum", mf.FEEDBACK_SPAM)) + _count(points("Sum", mf.FEEDBACK_HAM)),
        buckets=[
            (int(at.timestamp() * 1000), round(count), round(spam.get(at, 0.0)))
            for at, count in messages.items()
            if count
        ],
    )


def _route_figures(route: str, found: Mapping[_Read, _Points]) -> RouteFigures:
    points = _reader(found, mf.DIMENSION_ROUTE, route)
    return RouteFigures(
        route=route,
        requests=_count(points("Sum", mf.REQUESTS)),
        latency_ms_p50=_percentile(points("p50", mf.LATENCY)),
        latency_ms_p99=_percentile(points("p99", mf.LATENCY)),
        errors_4xx=_count(points("Sum", mf.STATUS_4XX)),
        errors_5xx=_count(points("Sum", mf.STATUS_5XX)),
    )


def read_cloudwatch(cloudwatch: Any, *, namespace: str, stage: str, span: Span) -> Figures:
    """The figures of ``stage``'s versions and routes over ``span`` (botocore errors pass)."""
    versions, routes = _listed(cloudwatch, namespace, stage)
    found = _results(cloudwatch, _reads(versions, routes), namespace, stage, span)
    return Figures(
        where=(
            f"CloudWatch, stage {stage}, namespace {namespace}, "
            f"{span.start:%Y-%m-%d %H:%M} to {span.end:%Y-%m-%d %H:%M} UTC"
        ),
        versions=[_version_counts(v, found) for v in versions],
        routes=[_route_figures(r, found) for r in routes],
    )

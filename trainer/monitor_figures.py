"""What ``trainer monitor`` shows, whichever source it read: per model version, per route.

A source (a log file's EMF lines, or CloudWatch) fills :class:`Figures`: counts per model
version, with the newest-first buckets the shift test takes its window from, and per
route the requests, latency percentiles and error answers. :func:`monitor_report` turns
them, with each version's reference, into the JSON ``--json`` prints; :func:`render_table`
prints the same figures as text. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainer.shift import Reference, last_window, two_proportion_test

__all__ = [
    "Figures",
    "MonitorReport",
    "RouteFigures",
    "VersionCounts",
    "monitor_report",
    "render_table",
]


@dataclass
class VersionCounts:
    """What one model version did in the span, summed over log lines or CloudWatch periods.

    ``buckets`` holds ``(timestamp_ms, messages, spam)`` per line or period, in any order.
    """

    model_version: str
    messages: int = 0
    spam: int = 0
    probability_sum: float = 0.0
    probabilities: int = 0
    uncertain: int = 0
    feedback: int = 0
    buckets: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class RouteFigures:
    """One route's answers in the span; latency in milliseconds (``None``: no values)."""

    route: str
    requests: int
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    errors_4xx: int
    errors_5xx: int


@dataclass(frozen=True)
class Figures:
    """Everything one source read, and where from (``where`` heads the table)."""

    where: str
    versions: Sequence[VersionCounts]
    routes: Sequence[RouteFigures]


@dataclass(frozen=True)
class MonitorReport:
    """``--json``'s two lists, and why a version got no shift test (for the table)."""

    versions: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    no_shift: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"versions": self.versions, "routes": self.routes}


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _version_row(
    counts: VersionCounts, reference: Reference | str, window: int, alpha: float
) -> tuple[dict[str, Any], str | None]:
    """The version's JSON row, and why it has no shift test (``None`` when it has one)."""
    buckets = [(m, s) for _, m, s in sorted(counts.buckets, key=lambda b: b[0])]
    live = last_window(buckets, window)
    why_not = []
    if not isinstance(reference, Reference):
        why_not.append(reference)
    if live is None:
        why_not.append(f"{counts.messages:,} messages, fewer than the window of {window:,}")
    shift = None
    if isinstance(reference, Reference) and live is not None:
        shift = two_proportion_test(reference, live[0], live[1], alpha).as_dict()
    row = {
        "model_version": counts.model_version,
        "messages": counts.messages,
        "spam_rate": _share(counts.spam, counts.messages),
        "mean_spam_probability": _share(counts.probability_sum, counts.probabilities),
        "uncertain_share": _share(counts.uncertain, counts.messages),
        "feedback_reports": counts.feedback,
        "shift": shift,
    }
    return row, "; ".join(why_not) or None


def monitor_report(
    figures: Figures,
    references: Mapping[str, Reference | str],
    window: int,
    alpha: float,
) -> MonitorReport:
    """The versions (by version id) and routes (by route) that saw anything in the span.

    ``references`` maps a version to its :class:`Reference`, or to why it has none (said in
    the table). A version that scored nothing and took no report, and a route with no
    request, are left out.
    """
    versions, no_shift = [], {}
    for counts in sorted(figures.versions, key=lambda c: c.model_version):
        if not counts.messages and not counts.feedback:
            continue
        reference = references.get(counts.model_version, "no reference")
        row, why_not = _version_row(counts, reference, window, alpha)
        versions.append(row)
        if why_not is not None:
            no_shift[counts.model_version] = why_not
    routes = [
        {
            "route": r.route,
            "requests": r.requests,
            "latency_ms_p50": r.latency_ms_p50,
            "latency_ms_p99": r.latency_ms_p99,
            "errors_4xx": r.errors_4xx,
            "errors_5xx": r.errors_5xx,
        }
        for r in sorted(figures.routes, key=lambda r: r.route)
        if r.requests
    ]
    return MonitorReport(versions=versions, routes=routes, no_shift=no_shift)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _shift_line(version: str, shift: Mapping[str, Any] | None, why_not: str | None) -> str:
    if shift is None:
        return f"  {version}: no shift test ({why_not})"
    p = shift["p_value"]
    verdict = "SHIFTED" if shift["flagged"] else "no shift"
    return (
        f"  {version}: live {_percent(shift['live_rate'])} of {shift['live_n']:,} against "
        f"{_percent(shift['reference_rate'])} of {shift['reference_n']:,} on the holdout: "
        f"z = {shift['z']:+.2f}, p = {p:.2g} → {verdict} at α = {shift['alpha']:g}"
    )


def render_table(report: MonitorReport, where: str, window: int) -> str:
    """The report as text: versions, their shift tests, routes."""
    lines = [where, ""]
    header = (
        f"{'model version':<28}{'messages':>10}{'spam rate':>11}{'mean P(spam)':>14}"
        f"{'uncertain':>11}{'feedback':>10}{'per 1,000':>11}"
    )
    lines.append(header)
    for v in report.versions:
        per_1000 = _share(1000 * v["feedback_reports"], v["messages"])
        lines.append(
            f"{v['model_version']:<28}{v['messages']:>10,}{_percent(v['spam_rate']):>11}"
            f"{_number(v['mean_spam_probability'], '.3f'):>14}"
            f"{_percent(v['uncertain_share']):>11}{v['feedback_reports']:>10,}"
            f"{_number(per_1000, '.1f'):>11}"
        )
    if not report.versions:
        lines.append("(no model version scored a message or took a report)")
    lines += ["", f"shift test: the newest {window:,} messages or more (whole lines or periods)"]
    lines.append("against the model's holdout, pooled two-proportion z-test, two-sided")
    lines += [
        _shift_line(v["model_version"], v["shift"], report.no_shift.get(v["model_version"]))
        for v in report.versions
    ]
    lines += ["", f"{'route':<24}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}{'4xx':>8}{'5xx':>8}"]
    for r in report.routes:
        lines.append(
            f"{r['route']:<24}{r['requests']:>10,}{_number(r['latency_ms_p50'], '.1f'):>10}"
            f"{_number(r['latency_ms_p99'], '.1f'):>10}{r['errors_4xx']:>8,}"
            f"{r['errors_5xx']:>8,}"
        )
    if not report.routes:
        lines.append("(no requests)")
    return "\n".join(lines)

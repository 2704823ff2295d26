"""``trainer monitor --log``: the API's figures from the EMF lines in a log file.

Locally nothing turns the API's EMF lines into metrics, so this reads them where they
land: ``chalice local``'s output (``make demo`` prints its log folder), or a log exported
from CloudWatch Logs. Lines that are not EMF (the server's own) are skipped; an EMF line
that breaks the format is an error naming its line number, so nothing is miscounted.
Latency percentiles come from the values in the lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from chalicelib import metrics_format as mf

from trainer.errors import MonitorError
from trainer.monitor_figures import Figures, RouteFigures, VersionCounts

__all__ = ["read_log"]


@dataclass
class _Route:
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    errors_4xx: int = 0
    errors_5xx: int = 0

    def figures(self, route: str) -> RouteFigures:
        p50, p99 = np.percentile(self.latencies, [50, 99]) if self.latencies else (None, None)
        return RouteFigures(
            route=route,
            requests=self.requests,
            latency_ms_p50=None if p50 is None else float(p50),
            latency_ms_p99=None if p99 is None else float(p99),
            errors_4xx=self.errors_4xx,
            errors_5xx=self.errors_5xx,
        )


@dataclass
class _Stage:
    versions: dict[str, VersionCounts] = field(default_factory=dict)
    routes: dict[str, _Route] = field(default_factory=dict)


def _total(line: mf.EmfLine, metric: str) -> int:
    return round(sum(line.values.get(metric, ())))


def _add(stage: _Stage, line: mf.EmfLine) -> None:
    values = line.values
    version = line.dimensions.get(mf.DIMENSION_MODEL_VERSION)
    if version is not None:
        counts = stage.versions.setdefault(version, VersionCounts(version))
        messages, spam = _total(line, mf.MESSAGES_SCORED), _total(line, mf.SPAM_VERDICTS)
        counts.messages += messages
        counts.spam += spam
        counts.probability_sum += sum(values.get(mf.SPAM_PROBABILITY, ()))
        counts.probabilities += len(values.get(mf.SPAM_PROBABILITY, ()))
        counts.uncertain += _total(line, mf.UNCERTAIN_MESSAGES)
        counts.feedback += _total(line, mf.FEEDBACK_SPAM) + _total(line, mf.FEEDBACK_HAM)
        if messages:
            counts.buckets.append((line.timestamp_ms, messages, spam))
    route = line.dimensions.get(mf.DIMENSION_ROUTE)
    if route is not None and mf.REQUESTS in values:
        figures = stage.routes.setdefault(route, _Route())
        figures.requests += _total(line, mf.REQUESTS)
        figures.latencies += values.get(mf.LATENCY, [])
        figures.errors_4xx += _total(line, mf.STATUS_4XX)
        figures.errors_5xx += _total(line, mf.STATUS_5XX)


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield from enumerate(handle, start=1)
    except FileNotFoundError:
        raise MonitorError(f"no such log file: {path}") from None
    except OSError as exc:
        raise MonitorError(f"cannot read the log {path}: {exc.strerror or exc}") from None


def read_log(
    path: Path, *, namespace: str, stage: str | None = None, since_ms: int | None = None
) -> Figures:
    """The figures in ``path``'s EMF lines of ``namespace`` (and ``stage``, from ``since_ms``).

    Without ``stage`` the log must hold one stage. Raises ``MonitorError`` for a missing or
    unreadable file, a malformed EMF line (with its number), several stages and no
    ``stage``, or no line of this namespace and stage.
    """
    stages: dict[str, _Stage] = {}
    other_namespaces: set[str] = set()
    for number, text in _lines(path):
        try:
            line = mf.parse_emf_line(text)
        except mf.MetricsFormatError as exc:
            raise MonitorError(f"{path}:{number}: {exc}") from None
        if line is None or (since_ms is not None and line.timestamp_ms < since_ms):
            continue
        if line.namespace != namespace:
            other_namespaces.add(line.namespace)
            continue
        line_stage = line.dimensions.get(mf.DIMENSION_STAGE, "")
        if stage is None or line_stage == stage:
            _add(stages.setdefault(line_stage, _Stage()), line)
    if len(stages) > 1:
        names = ", ".join(sorted(stages))
        raise MonitorError(f"{path} holds the metrics of stages {names}: pass --stage")
    if not stages:
        scope = f"namespace {namespace}" + (f", stage {stage}" if stage else "")
        since = " in the window" if since_ms is not None else ""
        others = (
            f"; it has EMF lines of namespace {', '.join(sorted(other_namespaces))} (--namespace)"
            if other_namespaces
            else ""
        )
        raise MonitorError(f"no metrics of {scope}{since} in {path}{others}")
    (name, found), *_ = stages.items()
    return Figures(
        where=f"log {path}, stage {name}, namespace {namespace}",
        versions=list(found.versions.values()),
        routes=[figures.figures(route) for route, figures in found.routes.items()],
    )

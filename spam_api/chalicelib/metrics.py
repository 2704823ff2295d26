"""The API's metrics: CloudWatch EMF lines on stdout about every answer (``metrics_format``).

``app.py``'s middleware opens one ``answer`` per request, kept per thread as the request
scope of ``chalicelib.http`` is (``chalice local`` answers on threads); ``service`` notes in
it what the model scored (``scored``) or which report it took (``reported``). When the
answer is done, its lines are written:

- the request figures under [Stage, Route], once per answer, errors included (``Route``
  is the route's pattern, ``/predict/batch``, never the path a client sent);
- the model figures under [Stage] and [Stage, ModelVersion] when there are any: one line
  per ``MAX_VALUES`` messages scored (the request figures ride in the first), or the report;
- what the model holder did since the last answer (``holder.LoadCounts``: models made
  live, failed checks or loads, a load at cold start), in the first line, under the
  version that answered (else the live one, else ``none``).

Standard library only and no socket: Lambda sends stdout to CloudWatch Logs, which turns
the lines into metrics. No text, nor any part of one: a message is its length and its
score. Writing never fails an answer: a failure is logged once and the answer goes on.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.errors import is_no_model
from chalicelib.metrics_format import (
    COLD_STARTS,
    DIMENSION_MODEL_VERSION,
    DIMENSION_ROUTE,
    DIMENSION_STAGE,
    FEEDBACK_HAM,
    FEEDBACK_SPAM,
    LATENCY,
    MAX_VALUES,
    MESSAGES_SCORED,
    MODEL_DIMENSIONS,
    MODEL_LOAD_FAILURES,
    MODEL_LOADS,
    NO_MODEL,
    NO_MODEL_VERSION,
    REQUEST_DIMENSIONS,
    REQUESTS,
    SPAM_PROBABILITY,
    SPAM_VERDICTS,
    STATUS_4XX,
    STATUS_5XX,
    TEXT_LENGTH,
    UNCERTAIN_MESSAGES,
    emf_line,
    is_uncertain,
)
from chalicelib.runtime import installed_runtime
from chalicelib.settings import APP_NAME, Settings, SettingsError, get_settings, metrics_settings

if TYPE_CHECKING:
    from chalicelib.model import Scored

__all__ = ["OTHER_ROUTE", "Answer", "answer", "answer_lines", "reported", "scored"]

_log = logging.getLogger(f"{APP_NAME}.metrics")
#: ``Route`` of a request whose path is none of the app's routes (never the path itself).
OTHER_ROUTE = "other"
#: Decimals a spam probability keeps in a line: a shorter line, and 1e-4 is finer than any
#: dashboard or threshold reads it (whether it is uncertain is decided on the exact value).
PROBABILITY_DECIMALS = 4
_scope = threading.local()
_write_lock = threading.Lock()  # one answer's lines stay together when threads write at once
_failed_before = False
_R = TypeVar("_R")


@dataclass
class Answer:
    """What one answer reports, noted as the request goes and written when it is done."""

    route: str
    settings: Settings
    started: float = field(default_factory=time.perf_counter)
    latency_ms: float | None = None
    status: int = 500  # an answer left before ``done`` is Chalice's own 500
    no_model: bool = False
    model_version: str | None = None
    threshold: float = 0.5
    probabilities: list[float] = field(default_factory=list)
    verdicts: list[bool] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    report_label: str | None = None

    def note_error(self, exc: BaseException) -> None:
        """The answer is the error response for ``exc`` (its 503 may be for want of a model)."""
        self.no_model = is_no_model(exc)

    def done(self, response: _R) -> _R:
        """The handler's answer is ready: its latency ends here, its status is the response's."""
        self.latency_ms = (time.perf_counter() - self.started) * 1000.0
        self.status = int(getattr(response, "status_code", 500))
        return response


class _Unrecorded:
    """The answer with ``METRICS_ENABLED=false``: nothing is noted, nothing written."""

    def note_error(self, exc: BaseException) -> None:
        return None

    def done(self, response: _R) -> _R:
        return response


_UNRECORDED = _Unrecorded()


@contextlib.contextmanager
def answer(request: Any, routes: Mapping[str, Any]) -> Iterator[Answer | _Unrecorded]:
    """The metrics of one request, written on leaving; ``routes`` bound the ``Route`` value."""
    settings = _settings()
    if not settings.metrics_enabled:
        yield _UNRECORDED
        return
    path = getattr(request, "path", None)
    current = Answer(route=path if path in routes else OTHER_ROUTE, settings=settings)
    _scope.answer = current
    try:
        yield current
    finally:
        _scope.answer = None
        _write(current)


def scored(
    model_version: str, threshold: float, texts: Sequence[str], scores: Sequence[Scored]
) -> None:
    """The live model ``model_version`` scored ``texts`` (in order) in this request."""
    current: Answer | None = getattr(_scope, "answer", None)
    if current is None:
        return
    current.model_version, current.threshold = model_version, float(threshold)
    current.probabilities = [s.spam_probability for s in scores]
    current.verdicts = [s.is_spam for s in scores]
    current.lengths = [len(text) for text in texts]


def reported(label: str, model_version: str | None) -> None:
    """A report labelled ``label`` was stored, with ``model_version`` live (``None``: none)."""
    current: Answer | None = getattr(_scope, "answer", None)
    if current is None:
        return
    current.report_label, current.model_version = label, model_version


def answer_lines(
    current: Answer,
    *,
    timestamp_ms: int,
    counts: tuple[int, int, int] = (0, 0, 0),
    live_version: str | None = None,
) -> list[str]:
    """The EMF lines of one answer (pure: the caller takes the holder's ``counts``).

    ``counts`` are the holder's (loads, failures, cold starts) since the last answer; each
    one that is not zero is reported under the version that answered, else
    ``live_version``, else ``none``.
    """
    settings = current.settings
    latency = current.latency_ms
    if latency is None:
        latency = (time.perf_counter() - current.started) * 1000.0
    request = {
        REQUESTS: 1,
        LATENCY: round(latency, 3),
        STATUS_4XX: int(400 <= current.status < 500),
        STATUS_5XX: int(current.status >= 500),
        NO_MODEL: int(current.no_model),
    }
    chunks = _model_chunks(current)
    held = {
        name: count
        for name, count in zip((MODEL_LOADS, MODEL_LOAD_FAILURES, COLD_STARTS), counts, strict=True)
        if count  # written when something happened: a line stays short, a sum stays right
    }
    if held:
        chunks = [{**chunks[0], **held}, *chunks[1:]] if chunks else [held]
    dimensions = {
        DIMENSION_STAGE: settings.stage_name,
        DIMENSION_ROUTE: current.route,
        DIMENSION_MODEL_VERSION: current.model_version or live_version or NO_MODEL_VERSION,
    }
    lines = []
    for index, chunk in enumerate(chunks or [{}]):
        directives: list[Any] = [(REQUEST_DIMENSIONS, request)] if index == 0 else []
        if chunk:
            directives.append((MODEL_DIMENSIONS, chunk))
        lines.append(
            emf_line(
                namespace=settings.metrics_namespace,
                timestamp_ms=timestamp_ms,
                dimensions=dimensions,
                directives=directives,
            )
        )
    return lines


def _model_chunks(current: Answer) -> list[dict[str, Any]]:
    """The model figures, at most ``MAX_VALUES`` messages a chunk (one line each)."""
    if current.report_label is not None:
        label = current.report_label
        return [{FEEDBACK_SPAM: int(label == "spam"), FEEDBACK_HAM: int(label == "ham")}]
    band, threshold = current.settings.uncertainty_band, current.threshold
    chunks = []
    for start in range(0, len(current.probabilities), MAX_VALUES):
        probabilities = current.probabilities[start : start + MAX_VALUES]
        chunks.append(
            {
                MESSAGES_SCORED: len(probabilities),
                SPAM_VERDICTS: sum(current.verdicts[start : start + MAX_VALUES]),
                SPAM_PROBABILITY: [round(p, PROBABILITY_DECIMALS) for p in probabilities],
                UNCERTAIN_MESSAGES: sum(is_uncertain(p, threshold, band) for p in probabilities),
                TEXT_LENGTH: current.lengths[start : start + MAX_VALUES],
            }
        )
    return chunks


def _settings() -> Settings:
    """The process's settings; while they cannot be read, the metrics rows alone."""
    try:
        return get_settings()
    except SettingsError:
        return metrics_settings()


def _write(current: Answer) -> None:
    """Write the answer's lines to stdout in one call; never raise."""
    global _failed_before
    try:
        counts, live_version = (0, 0, 0), None
        runtime = installed_runtime()
        if runtime is not None:
            counts = runtime.holder.counts.take()
            live = runtime.holder.live_now() if any(counts) else None
            live_version = live.version if live is not None else None
        lines = answer_lines(
            current,
            timestamp_ms=int(time.time() * 1000),
            counts=counts,
            live_version=live_version,
        )
        text = "\n".join(lines) + "\n"
        with _write_lock:
            sys.stdout.write(text)
            sys.stdout.flush()
    except Exception:  # a metric line must never cost an answer
        if not _failed_before:
            _failed_before = True
            _log.exception("could not write the metrics of an answer; later failures unlogged")

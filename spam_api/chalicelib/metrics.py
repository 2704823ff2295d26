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
  version that answered (else the live one, else ``none``);
- the captures the answer wrote and those that failed (``captured``), in the first line,
  when it tried any.

Standard library only and no socket: Lambda sends stdout to CloudWatch Logs, which turns
the lines into metrics. No text, nor any part of one: a message is its length and its
score. Writing never fails an answer: a failure is logged once and the answer goes on.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.errors import is_no_model
from chalicelib.metrics_format import (
    CAPTURE_FAILURES,
    CAPTURE_WRITES,
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
    LineTemplate,
    is_uncertain,
    line_template,
)
from chalicelib.runtime import installed_runtime
from chalicelib.settings import APP_NAME, Settings, SettingsError, get_settings, metrics_settings

if TYPE_CHECKING:
    from chalicelib.model import Scored

__all__ = ["OTHER_ROUTE", "Answer", "answer", "answer_lines", "captured", "reported", "scored"]

_log = logging.getLogger(f"{APP_NAME}.metrics")
#: ``Route`` of a request whose path is none of the app's routes (never the path itself).
OTHER_ROUTE = "other"
#: Decimals a spam probability keeps in a line: a shorter line, and 1e-4 is finer than any
#: dashboard or threshold reads it (whether it is uncertain is decided on the exact value).
PROBABILITY_DECIMALS = 4
_NOTHING = (0, 0, 0)
_scope = threading.local()
_write_lock = threading.Lock()  # one answer's lines stay together when threads write at once
_failed_before = False
_R = TypeVar("_R")


@dataclass(eq=False, slots=True)
class Answer:
    """What one answer reports, noted as the request goes and written when it is done.

    It is the request's scope: entering makes it the thread's answer, leaving writes it.
    """

    route: str
    settings: Settings
    started: float = 0.0
    latency_ms: float | None = None
    status: int = 500  # an answer left before ``done`` is Chalice's own 500
    no_model: bool = False
    model_version: str | None = None
    threshold: float = 0.5
    probabilities: Sequence[float] = ()
    verdicts: Sequence[bool] = ()
    lengths: Sequence[int] = ()
    report_label: str | None = None
    captures: tuple[int, int] = (0, 0)

    def __enter__(self) -> Answer:
        self.started = time.perf_counter()
        _scope.answer = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        _scope.answer = None
        _write(self)

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

    def __enter__(self) -> _Unrecorded:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def note_error(self, exc: BaseException) -> None:
        return None

    def done(self, response: _R) -> _R:
        return response


_UNRECORDED = _Unrecorded()


def answer(request: Any, routes: Mapping[str, Any]) -> Answer | _Unrecorded:
    """The metrics of one request, to enter (``with``); written on leaving.

    ``routes`` are the app's: a path among them is its ``Route``, any other is ``other``.
    """
    settings = _settings()
    if not settings.metrics_enabled:
        return _UNRECORDED
    path = getattr(request, "path", None)
    return Answer(route=path if path in routes else OTHER_ROUTE, settings=settings)


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


def captured(written: int, failed: int) -> None:
    """This request kept ``written`` scored messages; ``failed`` more were not stored."""
    current: Answer | None = getattr(_scope, "answer", None)
    if current is not None:
        current.captures = (written, failed)


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
    counts: tuple[int, int, int] = _NOTHING,
    live_version: str | None = None,
) -> list[str]:
    """The EMF lines of one answer (pure: the caller takes the holder's ``counts``).

    ``counts`` are the holder's (loads, failures, cold starts) since the last answer; each
    one that is not zero is reported under the version that answered, else
    ``live_version``, else ``none``.
    """
    status, latency = current.status, current.latency_ms
    if latency is None:
        latency = (time.perf_counter() - current.started) * 1000.0
    first: list[Any] = [
        1,
        round(latency, 3),
        int(400 <= status < 500),
        int(status >= 500),
        int(current.no_model),
    ]
    names, chunks = _model_figures(current)
    first_names, first = names, first + chunks[0]
    if counts != _NOTHING:  # written when something happened: a line stays short
        held = [(name, count) for name, count in zip(_HELD, counts, strict=True) if count]
        first_names += tuple(name for name, _ in held)
        first += [count for _, count in held]
    if current.captures != (0, 0):  # this request tried to keep a message
        first_names += (CAPTURE_WRITES, CAPTURE_FAILURES)
        first += list(current.captures)
    settings = current.settings
    version = current.model_version or live_version or NO_MODEL_VERSION
    shape = (settings.metrics_namespace, settings.stage_name, current.route, version)
    lines = [_template(*shape, _REQUEST, first_names).line(timestamp_ms, first)]
    if len(chunks) > 1:  # a batch of more than MAX_VALUES: its other chunks, model figures only
        rest = _template(*shape, (), names)
        lines += [rest.line(timestamp_ms, chunk) for chunk in chunks[1:]]
    return lines


# The names of each kind of figure, in the order answer_lines gives their values.
_REQUEST = (REQUESTS, LATENCY, STATUS_4XX, STATUS_5XX, NO_MODEL)
_HELD = (MODEL_LOADS, MODEL_LOAD_FAILURES, COLD_STARTS)
_SCORED = (MESSAGES_SCORED, SPAM_VERDICTS, SPAM_PROBABILITY, UNCERTAIN_MESSAGES, TEXT_LENGTH)
_REPORTED = (FEEDBACK_SPAM, FEEDBACK_HAM)


def _model_figures(current: Answer) -> tuple[tuple[str, ...], list[list[Any]]]:
    """The model figures' names, and their values in chunks of at most ``MAX_VALUES``
    messages (one line each); one empty chunk when there are none.

    Every per-message figure is one value per message: a spam verdict and an uncertain
    message are 1 (else 0), so a metric's ``Average`` is the rate and its ``Sum`` the count.
    A chunk of one message (a ``/predict``) gives them as numbers rather than lists of one:
    the same figures, in a shorter line.
    """
    if current.report_label is not None:
        label = current.report_label
        return _REPORTED, [[int(label == "spam"), int(label == "ham")]]
    probabilities = current.probabilities
    if not probabilities:
        return (), [[]]
    band, threshold = current.settings.uncertainty_band, current.threshold
    if len(probabilities) == 1:
        (p,), (spam,), (length,) = probabilities, current.verdicts, current.lengths
        uncertain = is_uncertain(p, threshold, band)
        return _SCORED, [[1, int(spam), round(p, PROBABILITY_DECIMALS), int(uncertain), length]]
    chunks = []
    for start in range(0, len(probabilities), MAX_VALUES):
        part = probabilities[start : start + MAX_VALUES]
        verdicts = current.verdicts[start : start + MAX_VALUES]
        uncertain = map(is_uncertain, part, repeat(threshold), repeat(band))
        chunks.append(
            [
                len(part),
                list(map(int, verdicts)),
                list(map(round, part, repeat(PROBABILITY_DECIMALS))),
                list(map(int, uncertain)),
                list(current.lengths[start : start + MAX_VALUES]),
            ]
        )
    return _SCORED, chunks


@functools.lru_cache(maxsize=256)
def _template(
    namespace: str,
    stage: str,
    route: str,
    version: str,
    request: tuple[str, ...],
    model: tuple[str, ...],
) -> LineTemplate:
    """The template of one kind of line: worked out once, then reused answer after answer
    (versions come and go: the least recently used templates make way for new ones)."""
    return line_template(
        namespace=namespace,
        dimensions={
            DIMENSION_STAGE: stage,
            DIMENSION_ROUTE: route,
            DIMENSION_MODEL_VERSION: version,
        },
        directives=[(REQUEST_DIMENSIONS, request), (MODEL_DIMENSIONS, model)],
    )


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
        counts, live_version = _NOTHING, None
        runtime = installed_runtime()
        if runtime is not None:
            counts = runtime.holder.counts.take()
            if counts != _NOTHING:
                live = runtime.holder.live_now()
                live_version = live.version if live is not None else None
        lines = answer_lines(
            current,
            timestamp_ms=int(time.time() * 1000),
            counts=counts,
            live_version=live_version,
        )
        text = "\n".join(lines) + "\n"
        with _write_lock:
            _to_stdout(text)
    except Exception:  # a metric line must never cost an answer
        if not _failed_before:
            _failed_before = True
            _log.exception("could not write the metrics of an answer; later failures unlogged")


def _to_stdout(text: str) -> None:
    """``text`` on stdout at once: straight to its file descriptor when it has one.

    One system call, rather than the text and buffer layers' copies and then a flush (the
    difference shows in ``make bench``'s section 10); whatever Python still holds for stdout
    goes out first, so lines keep their order. A stdout without a descriptor (a test's
    capture, a redirect to memory) gets the text the ordinary way.
    """
    stdout = sys.stdout
    try:
        descriptor = stdout.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        stdout.write(text)
        stdout.flush()
        return
    stdout.flush()
    data = text.encode("utf-8")
    while data:
        data = data[os.write(descriptor, data) :]

"""The metrics format: what the API writes about every answer, and what reads it back.

The API writes CloudWatch's Embedded Metric Format (EMF): one JSON object per line on
stdout, which Lambda sends to CloudWatch Logs, where CloudWatch turns it into metrics at no
network cost to the function. ``trainer monitor`` reads the same figures back, from
CloudWatch or, locally, from the lines in a log file. Like ``registry_format`` and
``feedback_format`` it is the one definition both sides import: pure (dicts and strings in
and out), standard library only, nothing on the API's cold path but ``json``.

A line (values at the root, the directive under ``_aws``)::

    {"_aws": {"Timestamp": 1764950400000,
              "CloudWatchMetrics": [
                {"Namespace": "SpamClassifier", "Dimensions": [["Stage", "Route"]],
                 "Metrics": [{"Name": "Requests", "Unit": "Count"}, ...]},
                {"Namespace": "SpamClassifier",
                 "Dimensions": [["Stage"], ["Stage", "ModelVersion"]],
                 "Metrics": [{"Name": "MessagesScored", "Unit": "Count"}, ...]}]},
     "Stage": "prod", "Route": "/predict", "ModelVersion": "20261201T...",
     "Requests": 1, "Latency": 12.5, ..., "SpamProbability": [0.97], ...}

Dimensions are few and bounded, because every distinct combination is a billed custom
metric: request figures under ``[Stage, Route]`` (a route is the route's pattern, never the
path a client sent), model figures under ``[Stage]`` and ``[Stage, ModelVersion]``.
Never a request id, a text or anything unbounded as a dimension, and no text, nor any part
of one, anywhere in a line: a message's length is a number.

A metric may carry up to ``MAX_VALUES`` values in one line (an array); a batch of more
messages is written as several lines.

>>> line = emf_line(
...     namespace="SpamClassifier", timestamp_ms=0,
...     dimensions={"Stage": "local", "Route": "/predict"},
...     directives=[(REQUEST_DIMENSIONS, {REQUESTS: 1, LATENCY: 3.5})])
>>> parsed = parse_emf_line(line)
>>> parsed.dimensions, parsed.values[LATENCY], parsed.units[LATENCY]
({'Stage': 'local', 'Route': '/predict'}, [3.5], 'Milliseconds')
>>> is_uncertain(0.30, threshold=0.246, band=0.1), is_uncertain(0.9, 0.5, 0.1)
(True, False)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CAPTURE_FAILURES",
    "CAPTURE_WRITES",
    "COLD_STARTS",
    "DEFAULT_NAMESPACE",
    "DEFAULT_STAGE",
    "DEFAULT_UNCERTAINTY_BAND",
    "DIMENSION_MODEL_VERSION",
    "DIMENSION_ROUTE",
    "DIMENSION_STAGE",
    "FEEDBACK_HAM",
    "FEEDBACK_SPAM",
    "LATENCY",
    "MAX_VALUES",
    "MESSAGES_SCORED",
    "METRIC_UNITS",
    "MODEL_DIMENSIONS",
    "MODEL_LOADS",
    "MODEL_LOAD_FAILURES",
    "MODEL_METRICS",
    "NO_MODEL",
    "NO_MODEL_VERSION",
    "REQUESTS",
    "REQUEST_DIMENSIONS",
    "REQUEST_METRICS",
    "SPAM_PROBABILITY",
    "SPAM_VERDICTS",
    "STATUS_4XX",
    "STATUS_5XX",
    "TEXT_LENGTH",
    "UNCERTAIN_MESSAGES",
    "EmfLine",
    "LineTemplate",
    "MetricsFormatError",
    "emf_line",
    "is_uncertain",
    "line_template",
    "parse_emf_line",
]

#: ``METRICS_NAMESPACE``'s default.
DEFAULT_NAMESPACE = "SpamClassifier"
#: ``STAGE_NAME``'s default: ``chalice local``'s stage (deploy writes each stage's own name).
DEFAULT_STAGE = "local"
#: ``UNCERTAINTY_BAND``'s default: a message is uncertain within this of the threshold.
DEFAULT_UNCERTAINTY_BAND = 0.1
#: The most values one metric may carry in one line (the EMF specification's limit).
MAX_VALUES = 100

DIMENSION_STAGE = "Stage"
DIMENSION_ROUTE = "Route"
DIMENSION_MODEL_VERSION = "ModelVersion"
#: ``ModelVersion`` of a figure no model stands behind (a report taken while none was loaded).
NO_MODEL_VERSION = "none"

# -- request figures, one set per answer, under [Stage, Route] -------------------------------
#: 1 per answer.
REQUESTS = "Requests"
#: The handler's time for the answer, in milliseconds (API Gateway's own is its Latency).
LATENCY = "Latency"
#: 1 when the answer's status is 4xx (else 0), so the average is the share.
STATUS_4XX = "Status4xx"
#: 1 when the answer's status is 5xx (else 0).
STATUS_5XX = "Status5xx"
#: 1 when the answer is a 503 because no model is loaded (other 503s count only as 5xx).
NO_MODEL = "NoModel"

# -- model figures, under [Stage] and [Stage, ModelVersion] ----------------------------------
#: Messages the model scored (one count per line).
MESSAGES_SCORED = "MessagesScored"
#: 1 for each scored message answered SPAM, else 0 (one value per message): its ``Sum`` is
#: the count, its ``Average`` the spam rate.
SPAM_VERDICTS = "SpamVerdicts"
#: Each scored message's spam probability (one value per message).
SPAM_PROBABILITY = "SpamProbability"
#: 1 for each scored message within the uncertainty band of the threshold
#: (:func:`is_uncertain`), else 0 (one value per message): ``Average`` is the uncertain share.
UNCERTAIN_MESSAGES = "UncertainMessages"
#: Each scored message's length in characters (one value per message).
TEXT_LENGTH = "TextLength"
#: Reports taken by ``POST /feedback``, by the label the person gave.
FEEDBACK_SPAM = "FeedbackReportsSpam"
FEEDBACK_HAM = "FeedbackReportsHam"
#: A model became live (at cold start or on a swap), and a load or check that failed.
MODEL_LOADS = "ModelLoads"
MODEL_LOAD_FAILURES = "ModelLoadFailures"
#: 1 in the first answer of a process whose model was loaded at its cold start.
COLD_STARTS = "ColdStarts"
#: Scored messages kept for labelling (``chalicelib.capture``), and those whose write failed.
CAPTURE_WRITES = "CaptureWrites"
CAPTURE_FAILURES = "CaptureFailures"

#: Each metric's CloudWatch unit.
METRIC_UNITS: dict[str, str] = {
    REQUESTS: "Count",
    LATENCY: "Milliseconds",
    STATUS_4XX: "Count",
    STATUS_5XX: "Count",
    NO_MODEL: "Count",
    MESSAGES_SCORED: "Count",
    SPAM_VERDICTS: "Count",
    SPAM_PROBABILITY: "None",
    UNCERTAIN_MESSAGES: "Count",
    TEXT_LENGTH: "Count",
    FEEDBACK_SPAM: "Count",
    FEEDBACK_HAM: "Count",
    MODEL_LOADS: "Count",
    MODEL_LOAD_FAILURES: "Count",
    COLD_STARTS: "Count",
    CAPTURE_WRITES: "Count",
    CAPTURE_FAILURES: "Count",
}
REQUEST_METRICS = (REQUESTS, LATENCY, STATUS_4XX, STATUS_5XX, NO_MODEL)
MODEL_METRICS = tuple(m for m in METRIC_UNITS if m not in REQUEST_METRICS)

#: The dimension sets each kind of figure is published under.
REQUEST_DIMENSIONS: tuple[tuple[str, ...], ...] = ((DIMENSION_STAGE, DIMENSION_ROUTE),)
MODEL_DIMENSIONS: tuple[tuple[str, ...], ...] = (
    (DIMENSION_STAGE,),
    (DIMENSION_STAGE, DIMENSION_MODEL_VERSION),
)

Value = float | int
Directive = tuple[Sequence[Sequence[str]], Mapping[str, Value | Sequence[Value]]]


class MetricsFormatError(ValueError):
    """A line is not an EMF line of this format (or would not be one)."""


def is_uncertain(spam_probability: float, threshold: float, band: float) -> bool:
    """Whether a verdict lies within ``band`` of the threshold, on the published scale.

    One band serves a mixture of experts too: ``MediumExperts`` maps each expert's own
    threshold onto one common scale before mixing, so the published probability and
    threshold are what every expert's verdict is measured on.
    """
    return abs(float(spam_probability) - float(threshold)) <= band


# -- writing a line ----------------------------------------------------------------------


def emf_line(
    *,
    namespace: str,
    timestamp_ms: int,
    dimensions: Mapping[str, str],
    directives: Sequence[Directive],
) -> str:
    """One EMF line: each directive's metrics published under its dimension sets.

    ``dimensions`` holds every dimension's value (each a non-empty string); a metric's value
    is a number or a list of at most ``MAX_VALUES`` numbers. A metric may appear in one
    directive only. Raises ``MetricsFormatError`` for a name this format does not define, a
    dimension without a value, or a value that is not a finite number.

    The text is ``json.dumps`` of that document, compact: ``_aws``, then the dimensions the
    directives name (by name), then the metrics in the order given. It is made in the two
    steps the API takes (:func:`line_template`, then :meth:`LineTemplate.line`).
    """
    directives = list(directives)  # read twice
    template = line_template(
        namespace=namespace,
        dimensions=dimensions,
        directives=[(sets, tuple(values)) for sets, values in directives],
    )
    return template.line(timestamp_ms, [v for _, values in directives for v in values.values()])


@dataclass(frozen=True)
class LineTemplate:
    """A line with its timestamp and values left out: ``%s`` where each goes.

    Why two steps: the API writes lines for every answer, before the answer returns, so a
    line must cost little; and all but the numbers (the directive, the dimension values,
    the names and their order) is the same answer after answer. ``line_template`` works
    that out once, with ``json``; ``line`` then checks the numbers and formats them in,
    which gives ``json.dumps``' own text (a finite int or float prints the same with
    ``%s``) for a fraction of encoding the document (``make bench``'s section 10 measures
    what a line costs an answer).
    """

    names: tuple[str, ...]  #: the metrics, in the order their values are given
    text: str

    def line(self, timestamp_ms: int, values: Sequence[Value | Sequence[Value]]) -> str:
        """The line with ``values`` (one per name, in order); ``MetricsFormatError`` when a
        value is not a finite number or a list of 1 to ``MAX_VALUES`` of them."""
        if len(values) != len(self.names):
            raise MetricsFormatError(f"{len(self.names)} values needed, got {len(values)}")
        if set(map(type, values)) <= _PLAIN and _finite_sum(values):  # a /predict's: at once
            return self.text % (int(timestamp_ms), *values)
        return self.text % (int(timestamp_ms), *map(_json_value, self.names, values))


def line_template(
    *,
    namespace: str,
    dimensions: Mapping[str, str],
    directives: Sequence[tuple[Sequence[Sequence[str]], Sequence[str]]],
) -> LineTemplate:
    """The template of the lines that publish each directive's metric names under its
    dimension sets, with these dimension values (a directive without names is left out).

    Raises ``MetricsFormatError`` as :func:`emf_line` does for names and dimensions.
    """
    blocks, used, names = [], set(), []
    for dimension_sets, metrics in directives:
        for name in metrics:
            if name not in METRIC_UNITS:
                raise MetricsFormatError(f"{name!r} is not a metric of this format")
            if name in names:
                raise MetricsFormatError(f"{name!r} appears in two directives")
            names.append(name)
        sets = [list(dims) for dims in dimension_sets]
        missing = sorted({d for dims in sets for d in dims if not dimensions.get(d)})
        if missing:
            raise MetricsFormatError(f"no value for dimension(s) {', '.join(missing)}")
        if metrics:
            units = [{"Name": n, "Unit": METRIC_UNITS[n]} for n in metrics]
            blocks.append({"Namespace": namespace, "Dimensions": sets, "Metrics": units})
            used.update(d for dims in sets for d in dims)
    text = '{"_aws":{"Timestamp":%s,"CloudWatchMetrics":' + _escaped(blocks) + "}"
    text += "".join(f",{_escaped(d)}:{_escaped(str(dimensions[d]))}" for d in sorted(used))
    text += "".join(f",{_escaped(name)}:%s" for name in names)
    return LineTemplate(names=tuple(names), text=text + "}")


_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_PLAIN = frozenset((int, float))  # exactly: not bool, not a subclass that prints otherwise


def _finite_sum(values: Sequence[Value]) -> bool:
    """Whether plain numbers sum to a finite number: then each of them is finite."""
    try:
        return math.isfinite(math.fsum(values))
    except (OverflowError, ValueError):  # too large to sum, or inf - inf: one by one instead
        return False


def _escaped(value: Any) -> str:
    """``value`` as JSON, for a %-template."""
    return _encode(value).replace("%", "%%")


def _json_value(name: str, value: Value | Sequence[Value]) -> Value | str:
    """A value as its JSON text prints with ``%s``: a finite int or float as it is, a list
    as a JSON array; ``MetricsFormatError`` for anything else."""
    if value.__class__ is list or value.__class__ is tuple:
        if not 1 <= len(value) <= MAX_VALUES:
            raise MetricsFormatError(f"{name} needs 1 to {MAX_VALUES} values, got {len(value)}")
        if not (set(map(type, value)) <= _PLAIN and _finite_sum(value)):
            value = [_number(name, v) for v in value]
        return "[" + ",".join(map(str, value)) + "]"
    return _number(name, value)


def _number(name: str, value: Any) -> Value:
    """``value`` as a plain finite int or float (a subclass, such as numpy's, converted)."""
    kind = value.__class__
    if kind is int or (kind is float and math.isfinite(value)):
        return value
    if kind is not bool and isinstance(value, int):
        return int(value)
    if isinstance(value, float) and math.isfinite(value):
        return float(value)
    raise MetricsFormatError(f"{name}: {value!r} is not a finite number")


# -- reading a line back -----------------------------------------------------------------


@dataclass(frozen=True)
class EmfLine:
    """A line read back: its time, dimension values, and each metric's values and unit."""

    timestamp_ms: int
    namespace: str
    dimensions: dict[str, str]
    values: dict[str, list[float]]
    units: dict[str, str]


def parse_emf_line(line: str) -> EmfLine | None:
    """The EMF line in ``line``, or ``None`` for any other log line.

    Raises ``MetricsFormatError`` for a JSON object that claims to be EMF (it has ``_aws``)
    but breaks the format, so a reader never silently miscounts.
    """
    text = line.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return None
    try:
        data = json.loads(text)
        aws = data["_aws"]
        timestamp = int(aws["Timestamp"])
        blocks = aws["CloudWatchMetrics"]
        namespaces = {block["Namespace"] for block in blocks}
        values: dict[str, list[float]] = {}
        units: dict[str, str] = {}
        dimensions: dict[str, str] = {}
        for block in blocks:
            for dims in block["Dimensions"]:
                for name in dims:
                    dimensions[name] = str(data[name])
            for metric in block["Metrics"]:
                name = metric["Name"]
                raw = data[name]
                values[name] = [float(v) for v in (raw if isinstance(raw, list) else [raw])]
                units[name] = metric.get("Unit", "None")
    except (ValueError, KeyError, TypeError) as exc:
        raise MetricsFormatError(f"not a valid EMF line: {exc!r}") from exc
    if len(namespaces) > 1:
        raise MetricsFormatError(f"one line, several namespaces: {sorted(namespaces)}")
    return EmfLine(
        timestamp_ms=timestamp,
        namespace=next(iter(namespaces), ""),
        dimensions=dimensions,
        values=values,
        units=units,
    )

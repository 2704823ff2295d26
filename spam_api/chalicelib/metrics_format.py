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
import json.encoder
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
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
    "MetricsFormatError",
    "emf_line",
    "is_uncertain",
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


def emf_line(
    *,
    namespace: str,
    timestamp_ms: int,
    dimensions: Mapping[str, str],
    directives: Sequence[Directive],
) -> str:
    """One EMF line: each directive's metrics published under its dimension sets.

    ``dimensions`` holds every dimension's value (each must be a short string); a metric's
    value is a number or a list of at most ``MAX_VALUES`` numbers. A metric may appear in one
    directive only. Raises ``MetricsFormatError`` for a name this format does not define, a
    dimension without a value, or a value that is not a finite number.

    The text is ``json.dumps`` of that document, compact, members in the order above; a
    line of a shape seen before is formatted from that shape's template (see below).
    """
    if not isinstance(directives, list | tuple):
        directives = tuple(directives)  # read twice below
    try:
        key = (namespace, tuple([(sets, tuple(values)) for sets, values in directives]))
        form = _FORMS.get(key)
    except TypeError:  # a dimension set given as a list: not hashable, so not kept
        key, form = None, None
    if form is None:
        form = _form(namespace, directives)
        if form is None:  # a name this format does not define, or one metric twice
            return _generic_line(namespace, timestamp_ms, dimensions, directives)
        if key is not None and len(_FORMS) < _MAX_FORMS:
            _FORMS[key] = form
    for name in form.dimensions:
        if not dimensions.get(name):  # the plain construction says which, as it always has
            return _generic_line(namespace, timestamp_ms, dimensions, directives)
    slots: list[Any] = [int(timestamp_ms)]
    slots += [_encode_text(str(dimensions[name])) for name in form.used]
    numbers = [value for _, values in directives for value in values.values()]
    if set(map(type, numbers)) <= _PLAIN and _finite_sum(numbers):
        return form.template % (*slots, *numbers)  # a plain finite number prints as json's
    for _, values in directives:
        slots += [_json_value(name, value) for name, value in values.items()]
    return form.template % tuple(slots)


# The API writes a line per answer, so a line must cost little. Everything a line's shape
# decides (its directives, the member names, their order) is worked out once per shape, as
# a %-template; a line is then its checked values formatted into it. ``_generic_line`` is
# the plain construction: the template reproduces its text, and it raises for bad shapes.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_encode_text = json.encoder.encode_basestring_ascii  # a JSON string, as json.dumps writes it
_NUMBERS = (int, float)
_PLAIN = frozenset(_NUMBERS)  # exactly int or float: not bool, not a subclass
_MAX_FORMS = 256


@dataclass(frozen=True)
class _Form:
    """One line shape: the dimensions it names, those its metrics use, its template."""

    dimensions: tuple[str, ...]
    used: tuple[str, ...]
    template: str


_FORMS: dict[Any, _Form] = {}


def _form(namespace: str, directives: Sequence[Directive]) -> _Form | None:
    """The template of a shape, or ``None`` when its names break the format."""
    named, blocks, used, names = set(), [], set(), []
    for dimension_sets, values in directives:
        sets = tuple(tuple(dims) for dims in dimension_sets)
        dimension_names = {name for dims in sets for name in dims}
        named.update(dimension_names)
        for name in values:
            if name not in METRIC_UNITS or name in names:
                return None
            names.append(name)
        if values:
            blocks.append(
                _encode(
                    {
                        "Namespace": namespace,
                        "Dimensions": [list(dims) for dims in sets],
                        "Metrics": [{"Name": n, "Unit": METRIC_UNITS[n]} for n in values],
                    }
                )
            )
            used.update(dimension_names)
    members = sorted(used) + names
    head = '{"_aws":{"Timestamp":%s,"CloudWatchMetrics":[' + _escaped(",".join(blocks)) + "]}"
    rest = "".join(f",{_escaped(_encode_text(name))}:%s" for name in members)
    return _Form(tuple(sorted(named)), tuple(sorted(used)), head + rest + "}")


def _escaped(text: str) -> str:
    return text.replace("%", "%%")


def _json_value(name: str, value: Value | Sequence[Value]) -> str:
    """A checked value as JSON (plain numbers directly, anything else as json writes it)."""
    checked = _checked(name, value)
    if isinstance(checked, list) and set(map(type, checked)) <= _PLAIN:
        return "[" + ",".join(map(repr, checked)) + "]"
    if checked.__class__ in _PLAIN:
        return repr(checked)
    return _encode(checked)


def _generic_line(
    namespace: str,
    timestamp_ms: int,
    dimensions: Mapping[str, str],
    directives: Sequence[Directive],
) -> str:
    root: dict[str, Any] = {}
    blocks = []
    for dimension_sets, values in directives:
        names = sorted({name for dims in dimension_sets for name in dims})
        missing = [name for name in names if not dimensions.get(name)]
        if missing:
            raise MetricsFormatError(f"no value for dimension(s) {', '.join(missing)}")
        metrics = []
        for name, value in values.items():
            if name not in METRIC_UNITS:
                raise MetricsFormatError(f"{name!r} is not a metric of this format")
            if name in root:
                raise MetricsFormatError(f"{name!r} appears in two directives")
            root[name] = _checked(name, value)
            metrics.append({"Name": name, "Unit": METRIC_UNITS[name]})
        if metrics:
            blocks.append(
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dims) for dims in dimension_sets],
                    "Metrics": metrics,
                }
            )
    line: dict[str, Any] = {"_aws": {"Timestamp": int(timestamp_ms), "CloudWatchMetrics": blocks}}
    used = {name for block in blocks for dims in block["Dimensions"] for name in dims}
    line.update({name: str(dimensions[name]) for name in sorted(used)})
    line.update(root)
    return _encode(line)


def _checked(name: str, value: Value | Sequence[Value]) -> Value | list[Value]:
    many = isinstance(value, list | tuple)
    values = value if many else (value,)
    if not values or len(values) > MAX_VALUES:
        raise MetricsFormatError(f"{name} needs 1 to {MAX_VALUES} values, got {len(values)}")
    if not (many and set(map(type, values)) <= _PLAIN and _finite_sum(values)):
        for v in values:
            if v.__class__ is bool or not isinstance(v, _NUMBERS) or not math.isfinite(v):
                raise MetricsFormatError(f"{name}: {v!r} is not a finite number")
    return list(values) if many else value  # type: ignore[return-value]


def _finite_sum(values: Sequence[float]) -> bool:
    """Whether plain numbers sum to a finite number: then each of them is finite."""
    try:
        return math.isfinite(math.fsum(values))
    except OverflowError:  # finite values too large to sum: the exact check decides
        return False


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

"""The capture store's format: a fair sample of the live traffic, kept for a person to label.

The contract between the API, which decides per scored message whether to keep it and
writes it, and the trainer, which queues, labels and learns from the records and estimates
the live model's error rates from them. Like ``feedback_format`` it is pure (bytes and dicts
in, dataclasses out, no I/O) and standard library only.

Two strata, decided per message from its request id and its position in the request, so a
test (and an auditor) can predict every decision (:func:`capture_stratum`):

- ``random``: every scored message with probability ``rate`` (``CAPTURE_RATE``), drawn
  first: a uniform sample of the traffic, which alone gives unbiased error rates;
- ``uncertain``: of the messages not drawn, those within the uncertainty band of the
  threshold (``metrics_format.is_uncertain``), with probability ``uncertain_rate``
  (``CAPTURE_UNCERTAIN_RATE``): the labels a model learns most from.

A record carries its inclusion probability, ``r`` for the random stratum and
``(1 - r) * u`` for the uncertain one, so estimates can weigh each by its inverse when the
rates change. Nothing about the sender is kept.

Layout under ``s3://BUCKET/CAPTURE_PREFIX`` (default ``capture/``), outside the model and
feedback prefixes::

    pending/<yyyy>/<mm>/<dd>/<id>.json     written once by the API (a conditional create)
    labelled/<yyyy>/<mm>/<dd>/<id>.json    moved there by a person (``trainer capture label``)
    discarded/<yyyy>/<mm>/<dd>/<id>.json   moved there by a person (``trainer capture discard``)

Ids have the feedback store's form (``<UTC time>-<16 hex>``), so the date folders follow
from the id alone.

>>> record = new_record("WIN a prize", record_id="20261206T101500Z-0123456789abcdef",
...     captured_at="2026-12-06T10:15:00Z", request_id="req-1", position=0,
...     model_version="v1", spam_probability=0.93, threshold=0.5,
...     stratum="random", inclusion_probability=0.01)
>>> record_key("capture/", "pending", record.id)
'capture/pending/2026/12/06/20261206T101500Z-0123456789abcdef.json'
>>> parse_record(record.to_json()) == record
True
>>> capture_stratum("req-1", 0, spam_probability=0.93, threshold=0.5, band=0.1,
...                 rate=1.0, uncertain_rate=0.0)
'random'
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from chalicelib.feedback_format import (
    LABELS,
    FeedbackFormatError,
    decision_time_text,
    new_report_id,
    parse_time,
    utc_now_text,
    validate_report_id,
)
from chalicelib.metrics_format import is_uncertain

__all__ = [
    "DEFAULT_CAPTURE_PREFIX",
    "SCHEMA_VERSION",
    "STATES",
    "STRATA",
    "CaptureFormatError",
    "CaptureRecord",
    "Labelling",
    "capture_stratum",
    "decision_time_text",
    "inclusion_probability",
    "new_record",
    "new_record_id",
    "parse_record",
    "parse_record_key",
    "record_key",
    "state_prefix",
    "uniform_draw",
    "utc_now_text",
    "validate_record_id",
]

SCHEMA_VERSION = 1
DEFAULT_CAPTURE_PREFIX = "capture/"
#: Where a record can be. ``pending`` is the only state the API writes.
STATES = ("pending", "labelled", "discarded")
STRATA = ("random", "uncertain")
new_record_id = new_report_id
_KEY_RE = re.compile(
    r"^(?P<state>pending|labelled|discarded)/\d{4}/\d{2}/\d{2}/"
    r"(?P<id>\d{8}T\d{6}Z-[0-9a-f]{16})\.json$"
)


class CaptureFormatError(ValueError):
    """A record, key or id is not of the capture store's format."""


def uniform_draw(purpose: str, request_id: str, position: int) -> float:
    """A number in [0, 1) that is a function of its arguments alone (sha256, 64 bits).

    >>> uniform_draw("random", "req-1", 0) == uniform_draw("random", "req-1", 0)
    True
    >>> uniform_draw("random", "req-1", 0) != uniform_draw("random", "req-1", 1)
    True
    """
    digest = hashlib.sha256(f"{purpose}\0{request_id}\0{position}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def capture_stratum(
    request_id: str,
    position: int,
    *,
    spam_probability: float,
    threshold: float,
    band: float,
    rate: float,
    uncertain_rate: float,
) -> str | None:
    """Whether the message at ``position`` of request ``request_id`` is kept, and why.

    ``"random"`` when its first draw falls under ``rate``; else ``"uncertain"`` when it lies
    within ``band`` of ``threshold`` and its second draw falls under ``uncertain_rate``;
    else ``None``. Both draws are :func:`uniform_draw` of the request id and the position.
    """
    if rate > 0.0 and uniform_draw("random", request_id, position) < rate:
        return "random"
    if (
        uncertain_rate > 0.0
        and is_uncertain(spam_probability, threshold, band)
        and uniform_draw("uncertain", request_id, position) < uncertain_rate
    ):
        return "uncertain"
    return None


def inclusion_probability(stratum: str, rate: float, uncertain_rate: float) -> float:
    """The chance a message of ``stratum`` had of being kept: r, or (1 - r) * u.

    >>> inclusion_probability("random", 0.01, 0.5), inclusion_probability("uncertain", 0.2, 0.5)
    (0.01, 0.4)
    """
    if stratum == "random":
        return rate
    if stratum == "uncertain":
        return (1.0 - rate) * uncertain_rate
    raise CaptureFormatError(f"stratum must be one of {', '.join(STRATA)}, got {stratum!r}")


@dataclass(frozen=True)
class Labelling:
    """A person's decision on a record: its label (``labelled``) or none (``discarded``)."""

    state: str  # "labelled" or "discarded"
    label: str | None
    by: str
    at: str


@dataclass(frozen=True)
class CaptureRecord:
    """One kept message, with what the live model said of it and why it was kept."""

    id: str
    text: str
    captured_at: str
    request_id: str
    position: int
    model_version: str
    spam_probability: float
    threshold: float
    stratum: str
    inclusion_probability: float
    labelling: Labelling | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def state(self) -> str:
        """``pending`` until a person decides, then ``labelled`` or ``discarded``."""
        return self.labelling.state if self.labelling is not None else "pending"

    @property
    def label(self) -> str | None:
        return self.labelling.label if self.labelling is not None else None

    @property
    def classification(self) -> str:
        """The verdict the live model gave: ``SPAM`` at or above its threshold."""
        return "SPAM" if self.spam_probability >= self.threshold else "HAM"

    def labelled(self, label: str, *, by: str, at: str) -> CaptureRecord:
        """This record with a person's label."""
        if label not in LABELS:
            raise CaptureFormatError(f"label must be spam or ham, got {label!r}")
        return replace(self, labelling=Labelling("labelled", label, by, at))

    def discarded(self, *, by: str, at: str) -> CaptureRecord:
        """This record set aside by a person (no label: unreadable, not a message, ...)."""
        return replace(self, labelling=Labelling("discarded", None, by, at))

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), ensure_ascii=False, sort_keys=True) + "\n").encode()


def state_prefix(prefix: str, state: str) -> str:
    """``<prefix><state>/``: where every record in ``state`` lies."""
    if state not in STATES:
        raise CaptureFormatError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    return f"{prefix}{state}/"


def record_key(prefix: str, state: str, record_id: str) -> str:
    """The key of record ``record_id`` in ``state``, its date folders taken from the id."""
    rid = validate_record_id(record_id)
    return f"{state_prefix(prefix, state)}{rid[:4]}/{rid[4:6]}/{rid[6:8]}/{rid}.json"


def parse_record_key(prefix: str, key: str) -> tuple[str, str]:
    """``(state, id)`` of a record key under ``prefix``, or ``CaptureFormatError``.

    >>> key = "capture/labelled/2026/12/06/20261206T101500Z-0123456789abcdef.json"
    >>> parse_record_key("capture/", key)
    ('labelled', '20261206T101500Z-0123456789abcdef')
    """
    rest = key[len(prefix) :] if key.startswith(prefix) else None
    found = _KEY_RE.fullmatch(rest) if rest is not None else None
    if found is None:
        raise CaptureFormatError(f"not a record key under {prefix!r}: {key!r}")
    return found["state"], validate_record_id(found["id"])


def validate_record_id(record_id: str) -> str:
    """``record_id`` if it is of the store's form, else ``CaptureFormatError``.

    >>> validate_record_id("20261206T101500Z-0123456789abcdef")
    '20261206T101500Z-0123456789abcdef'
    >>> validate_record_id("../x")
    Traceback (most recent call last):
    ...
    chalicelib.capture_format.CaptureFormatError: not a record id: '../x'
    """
    try:
        return validate_report_id(record_id)
    except ValueError:
        raise CaptureFormatError(f"not a record id: {record_id!r}") from None


def new_record(
    text: str,
    *,
    record_id: str,
    captured_at: str,
    request_id: str,
    position: int,
    model_version: str,
    spam_probability: float,
    threshold: float,
    stratum: str,
    inclusion_probability: float,
) -> CaptureRecord:
    """A new pending record (validated as ``parse_record`` would)."""
    return _validated(
        CaptureRecord(
            id=record_id,
            text=text,
            captured_at=captured_at,
            request_id=request_id,
            position=position,
            model_version=model_version,
            spam_probability=float(spam_probability),
            threshold=float(threshold),
            stratum=stratum,
            inclusion_probability=float(inclusion_probability),
        )
    )


def _validated(record: CaptureRecord) -> CaptureRecord:
    validate_record_id(record.id)
    problems = []
    if not isinstance(record.text, str) or not record.text.strip():
        problems.append("text must be a non-blank string")
    for name in ("captured_at", "request_id", "model_version"):
        value = getattr(record, name)
        if not isinstance(value, str) or not value or len(value) > 128:
            problems.append(f"{name} must be a string of 1 to 128 characters")
    if not isinstance(record.position, int) or isinstance(record.position, bool):
        problems.append("position must be an integer")
    elif record.position < 0:
        problems.append("position must not be negative")
    for name in ("spam_probability", "threshold"):
        value = getattr(record, name)
        if not isinstance(value, float) or not 0.0 <= value <= 1.0:
            problems.append(f"{name} must be a number from 0 to 1")
    if record.stratum not in STRATA:
        problems.append(f"stratum must be one of {', '.join(STRATA)}")
    p = record.inclusion_probability
    if not isinstance(p, float) or not 0.0 < p <= 1.0:
        problems.append("inclusion_probability must be in (0, 1]")
    labelling = record.labelling
    if labelling is not None:
        if labelling.state == "labelled" and labelling.label not in LABELS:
            problems.append("a labelled record's label must be spam or ham")
        elif labelling.state == "discarded" and labelling.label is not None:
            problems.append("a discarded record has no label")
        elif labelling.state not in ("labelled", "discarded"):
            problems.append("a decision is labelled or discarded")
        if not all(isinstance(v, str) and v for v in (labelling.by, labelling.at)):
            problems.append("a decision records who and when")
        else:
            try:
                parse_time(labelling.at)
            except FeedbackFormatError as exc:  # the feedback format's times, and its error
                problems.append(str(exc))
    if problems:
        raise CaptureFormatError("; ".join(problems))
    return record


def parse_record(data: bytes) -> CaptureRecord:
    """Parse and validate a stored record; ``CaptureFormatError`` says what is wrong."""
    try:
        obj = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise CaptureFormatError(f"a record is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict) or obj.get("schema_version") != SCHEMA_VERSION:
        raise CaptureFormatError(f"a record must be a JSON object of schema {SCHEMA_VERSION}")
    try:
        labelling = obj.get("labelling")
        record = CaptureRecord(
            **{k: obj[k] for k in _FIELDS},
            labelling=Labelling(**labelling) if labelling is not None else None,
        )
    except (KeyError, TypeError) as exc:
        raise CaptureFormatError(f"a record lacks or misnames a field ({exc})") from exc
    floats = {
        name: float(value)
        for name in ("spam_probability", "threshold", "inclusion_probability")
        if isinstance(value := getattr(record, name), int) and not isinstance(value, bool)
    }
    return _validated(replace(record, **floats) if floats else record)


_FIELDS = (
    "id",
    "text",
    "captured_at",
    "request_id",
    "position",
    "model_version",
    "spam_probability",
    "threshold",
    "stratum",
    "inclusion_probability",
)


def _no_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")

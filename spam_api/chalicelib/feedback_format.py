"""The feedback store's format: the contract between the API, which writes reports, and the
trainer, which reviews them and learns from the accepted ones.

Like ``chalicelib.registry_format`` it is pure (bytes and dicts in, dataclasses out, no
I/O), so both sides import one definition of every key and field.

Layout under ``s3://BUCKET/FEEDBACK_PREFIX`` (default ``feedback/``), never inside the
model prefix: the API may write here, and must never write next to the pickles::

    pending/<yyyy>/<mm>/<dd>/<id>.json    written once by the API (a conditional create)
    accepted/<yyyy>/<mm>/<dd>/<id>.json   moved there by a person (``trainer feedback accept``)
    rejected/<yyyy>/<mm>/<dd>/<id>.json   moved there by a person (``trainer feedback reject``)

The date folders come from the report id itself, so a report's key in any state follows
from its id alone: a move never has to search. A report holds what a person reviewing it
needs and nothing about its sender (no address, no user agent).

>>> report = new_report("WIN a prize", "spam", report_id="20261126T101500Z-0123456789abcdef",
...                     received_at="2026-11-26T10:15:00Z")
>>> report_key("feedback/", "pending", report.id)
'feedback/pending/2026/11/26/20261126T101500Z-0123456789abcdef.json'
>>> parse_report(report.to_json()) == report
True
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.registry_format import prefixes_apart

__all__ = [
    "DEFAULT_FEEDBACK_PREFIX",
    "LABELS",
    "SCHEMA_VERSION",
    "STATES",
    "Decision",
    "FeedbackFormatError",
    "Report",
    "Verdict",
    "decision_time_text",
    "lies_outside_model_prefix",
    "new_report",
    "new_report_id",
    "parse_report",
    "parse_report_key",
    "parse_time",
    "report_key",
    "state_prefix",
    "utc_now_text",
    "validate_report_id",
]

SCHEMA_VERSION = 1
DEFAULT_FEEDBACK_PREFIX = "feedback/"
LABELS = ("spam", "ham")
#: Where a report can be. ``pending`` is the only state the API writes.
STATES = ("pending", "accepted", "rejected")
_ID_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})T\d{6}Z-[0-9a-f]{16}$")
_KEY_RE = re.compile(
    r"^(?P<state>pending|accepted|rejected)/\d{4}/\d{2}/\d{2}/"
    r"(?P<id>\d{8}T\d{6}Z-[0-9a-f]{16})\.json$"
)


class FeedbackFormatError(ValueError):
    """A report, key or id is not of the feedback store's format."""


@dataclass(frozen=True)
class Verdict:
    """What the live model said of the text when the report arrived."""

    model_version: str
    classification: str  # "SPAM" or "HAM"
    spam_probability: float


@dataclass(frozen=True)
class Decision:
    """A person's review: accepted (trainable) or rejected, when and by whom."""

    state: str  # "accepted" or "rejected"
    by: str
    at: str


@dataclass(frozen=True)
class Report:
    """One person's claim that a text is spam or ham.

    ``corrected_version`` and ``corrected_request_id`` are what the client said it was
    correcting (the ``model_version`` and ``X-Request-Id`` of the verdict it saw), if any.
    """

    id: str
    text: str
    label: str
    received_at: str
    verdict: Verdict | None = None
    corrected_version: str | None = None
    corrected_request_id: str | None = None
    decision: Decision | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def state(self) -> str:
        """Where this report belongs: ``pending`` until decided, then its decision's state."""
        return self.decision.state if self.decision is not None else "pending"

    @property
    def disagreed(self) -> bool:
        """The live model's verdict differed from the reported label."""
        return self.verdict is not None and self.verdict.classification.lower() != self.label

    def decided(self, state: str, *, by: str, at: str) -> Report:
        """This report with a person's decision recorded."""
        if state not in ("accepted", "rejected"):
            raise FeedbackFormatError(f"a decision is accepted or rejected, got {state!r}")
        return replace(self, decision=Decision(state=state, by=by, at=at))

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), ensure_ascii=False, sort_keys=True) + "\n").encode()


def new_report_id(now: datetime) -> str:
    """A unique, time-sortable id: ``<UTC time>-<64 random bits>``."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(8)}"


def validate_report_id(report_id: str) -> str:
    """Return ``report_id`` if it is of the store's format, else ``FeedbackFormatError``.

    >>> validate_report_id("../etc/passwd")
    Traceback (most recent call last):
    ...
    chalicelib.feedback_format.FeedbackFormatError: not a report id: '../etc/passwd'
    """
    if not isinstance(report_id, str) or not _ID_RE.fullmatch(report_id):
        raise FeedbackFormatError(f"not a report id: {report_id!r}")
    return report_id


def lies_outside_model_prefix(feedback_prefix: str, model_prefix: str) -> bool:
    """Whether reports can never land among the pickles, nor pickles among the reports.

    ``registry_format.prefixes_apart`` for this pair: neither prefix may contain the other.
    The API's settings and the trainer's review commands both refuse a feedback prefix
    that fails this.

    >>> lies_outside_model_prefix("feedback/", "models/")
    True
    >>> lies_outside_model_prefix("models/feedback/", "models/")
    False
    """
    return prefixes_apart(feedback_prefix, model_prefix)


def state_prefix(prefix: str, state: str) -> str:
    """``<prefix><state>/``: where every report in ``state`` lies."""
    if state not in STATES:
        raise FeedbackFormatError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    return f"{prefix}{state}/"


def report_key(prefix: str, state: str, report_id: str) -> str:
    """The key of report ``report_id`` in ``state``, its date folders taken from the id."""
    year, month, day = _ID_RE.match(validate_report_id(report_id)).groups()  # type: ignore[union-attr]
    return f"{state_prefix(prefix, state)}{year}/{month}/{day}/{report_id}.json"


def parse_report_key(prefix: str, key: str) -> tuple[str, str]:
    """``(state, id)`` of a report key under ``prefix``, or ``FeedbackFormatError``.

    >>> key = "feedback/accepted/2026/11/26/20261126T101500Z-0123456789abcdef.json"
    >>> parse_report_key("feedback/", key)
    ('accepted', '20261126T101500Z-0123456789abcdef')
    """
    rest = key[len(prefix) :] if key.startswith(prefix) else None
    found = _KEY_RE.fullmatch(rest) if rest is not None else None
    if found is None:
        raise FeedbackFormatError(f"not a report key under {prefix!r}: {key!r}")
    return found["state"], validate_report_id(found["id"])


def new_report(
    text: str,
    label: str,
    *,
    report_id: str,
    received_at: str,
    verdict: Verdict | None = None,
    corrected_version: str | None = None,
    corrected_request_id: str | None = None,
) -> Report:
    """A new pending report (validated as ``parse_report`` would)."""
    report = Report(
        id=report_id,
        text=text,
        label=label,
        received_at=received_at,
        verdict=verdict,
        corrected_version=corrected_version,
        corrected_request_id=corrected_request_id,
    )
    return _validated(report)


def _validated(report: Report) -> Report:
    validate_report_id(report.id)
    if not isinstance(report.text, str) or not report.text.strip():
        raise FeedbackFormatError("text must be a non-blank string")
    if report.label not in LABELS:
        raise FeedbackFormatError(f"label must be spam or ham, got {report.label!r}")
    if not isinstance(report.received_at, str) or not report.received_at:
        raise FeedbackFormatError("received_at must be a time")
    verdict = report.verdict
    if verdict is not None and (
        verdict.classification not in ("SPAM", "HAM")
        or not isinstance(verdict.spam_probability, float)
        or not 0.0 <= verdict.spam_probability <= 1.0
        or not isinstance(verdict.model_version, str)
    ):
        raise FeedbackFormatError(f"verdict is malformed: {verdict!r}")
    for name in ("corrected_version", "corrected_request_id"):
        value = getattr(report, name)
        if value is not None and (not isinstance(value, str) or len(value) > 128):
            raise FeedbackFormatError(f"{name} must be a string of at most 128 characters")
    decision = report.decision
    if decision is not None and (
        decision.state not in ("accepted", "rejected")
        or not all(isinstance(v, str) and v for v in (decision.by, decision.at))
    ):
        raise FeedbackFormatError(f"decision is malformed: {decision!r}")
    if decision is not None:
        parse_time(decision.at)  # decisions are ordered by it (a change of mind)
    return report


def parse_report(data: bytes) -> Report:
    """Parse and validate a stored report; ``FeedbackFormatError`` says what is wrong."""
    try:
        obj = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise FeedbackFormatError(f"a report is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict) or obj.get("schema_version") != SCHEMA_VERSION:
        raise FeedbackFormatError(f"a report must be a JSON object of schema {SCHEMA_VERSION}")
    try:
        verdict = obj.get("verdict")
        decision = obj.get("decision")
        report = Report(
            id=obj["id"],
            text=obj["text"],
            label=obj["label"],
            received_at=obj["received_at"],
            verdict=Verdict(**verdict) if verdict is not None else None,
            corrected_version=obj.get("corrected_version"),
            corrected_request_id=obj.get("corrected_request_id"),
            decision=Decision(**decision) if decision is not None else None,
        )
    except (KeyError, TypeError) as exc:
        raise FeedbackFormatError(f"a report lacks or misnames a field ({exc})") from exc
    probability = report.verdict.spam_probability if report.verdict else None
    if isinstance(probability, int) and not isinstance(probability, bool):  # JSON's 0 and 1
        report = replace(
            report, verdict=replace(report.verdict, spam_probability=float(probability))
        )
    return _validated(report)


def _no_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def utc_now_text(now: datetime) -> str:
    """``now`` as the store writes times: ISO 8601, UTC, whole seconds."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decision_time_text(now: datetime) -> str:
    """``now`` as a decision's ``at``: ISO 8601, UTC, to the microsecond.

    Finer than ``utc_now_text`` because the later of two decisions on one report stands,
    and a person can change their mind within a second.

    >>> decision_time_text(datetime(2026, 11, 26, 10, 15, 0, 5, tzinfo=UTC))
    '2026-11-26T10:15:00.000005Z'
    """
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """A stored time (``utc_now_text`` or ``decision_time_text``) as an aware UTC datetime.

    >>> parse_time("2026-11-26T10:15:00Z") < parse_time("2026-11-26T10:15:00.000001Z")
    True
    """
    try:
        parsed = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise FeedbackFormatError(f"not a time with a zone (ISO 8601): {text!r}")
    return parsed.astimezone(UTC)

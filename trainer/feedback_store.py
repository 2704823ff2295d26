"""The review side of the feedback store in S3: find, move and erase reports; load accepted ones.

The format (keys, report fields) lives in ``chalicelib.feedback_format``, shared with the
API, which only ever creates ``pending/`` reports. Here a person's decision moves a report
to ``accepted/`` or ``rejected/`` with the machinery the capture store shares
(``trainer.decided_store``): the decided copy is written first and the source deleted
last, so a run killed half-way leaves a report in one place or two, never in none.

A report found in two places (or three) is read by one rule, :func:`standing_state`:

- a decided copy (accepted or rejected) beats a pending one: the pending copy is what an
  interrupted move left behind;
- between accepted and rejected, the later ``decision.at`` stands (a change of mind whose
  source was not yet deleted); on a tie, rejected stands, because an untrusted report
  must never reach a model by accident.

:func:`resolve` applies it to one report; every review command uses it and removes the
copies that do not stand (:func:`remove_leftovers`), while :func:`load_accepted`, which
training calls, only reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from chalicelib.feedback_format import (
    STATES,
    Decision,
    FeedbackFormatError,
    Report,
    parse_report,
    parse_report_key,
    report_key,
    validate_report_id,
)

from trainer import decided_store
from trainer.decided_store import ObjectVersion, Resolution, StoreFormat
from trainer.errors import TrainerError

__all__ = [
    "FEEDBACK_STORE",
    "FeedbackStoreError",
    "MalformedReportError",
    "ObjectVersion",
    "ReportNotFoundError",
    "Resolution",
    "decide",
    "erase_versions",
    "load_accepted",
    "remove_leftovers",
    "report_versions",
    "resolve",
    "standing_state",
]


class FeedbackStoreError(TrainerError):
    """S3 did not answer as it should, or the store holds something it must not."""


class ReportNotFoundError(FeedbackStoreError):
    """No report has this id, in any state."""


class MalformedReportError(FeedbackStoreError):
    """A stored object is not a report of the format, or not where its content says."""


#: The feedback store, as ``trainer.decided_store`` reads and moves its reports.
FEEDBACK_STORE = StoreFormat(
    noun="report",
    states=STATES,
    cautious="rejected",
    key=report_key,
    parse_key=parse_report_key,
    parse=parse_report,
    validate_id=validate_report_id,
    format_error=FeedbackFormatError,
    decided_at=lambda report: report.decision.at if report.decision else None,
    error=FeedbackStoreError,
    not_found=ReportNotFoundError,
    malformed=MalformedReportError,
)


def standing_state(decisions: Mapping[str, Decision]) -> str:
    """The state whose copy stands, given the decisions of a report's decided copies.

    ``decisions`` maps ``accepted``/``rejected`` to the decision stored there; with none,
    the report is ``pending``. The later decision stands; a tie goes to ``rejected``.

    >>> early = Decision("accepted", by="ann", at="2026-11-26T10:00:00Z")
    >>> late = Decision("rejected", by="bob", at="2026-11-26T11:00:00Z")
    >>> standing_state({"accepted": early, "rejected": late}), standing_state({})
    ('rejected', 'pending')
    """
    times = {state: decision.at for state, decision in decisions.items()}
    return decided_store.standing_state(times, "pending", FEEDBACK_STORE.cautious)


def resolve(
    s3: Any, bucket: str, prefix: str, report_id: str, copies: Mapping[str, str] | None = None
) -> Resolution:
    """The copy of report ``report_id`` that stands, by :func:`standing_state`.

    ``copies`` (``{state: key}``, from :func:`list_copies`) saves looking the keys up.
    ``ReportNotFoundError`` when the report is nowhere.
    """
    return decided_store.resolve(s3, bucket, prefix, FEEDBACK_STORE, report_id, copies)


def remove_leftovers(s3: Any, bucket: str, resolution: Resolution) -> tuple[str, ...]:
    """Delete the copies of a report that do not stand; returns their keys."""
    return decided_store.remove_leftovers(s3, bucket, resolution, FEEDBACK_STORE)


def load_accepted(s3: Any, bucket: str, prefix: str) -> list[Report]:
    """Every accepted report under ``prefix``, parsed and validated, oldest id first.

    This is what training may learn from. A report accepted and later rejected (a change
    of mind not yet tidied up) is left out, by the same rule as every review command; a
    malformed object raises ``MalformedReportError`` naming its key, never skipped. Read
    only: leftovers stay for the next review command to remove.

    See Also
    --------
    resolve : the rule applied to each report.
    """
    return decided_store.load_standing(
        s3, bucket, prefix, FEEDBACK_STORE, "accepted", rivals=("rejected",)
    )


def decide(
    s3: Any, bucket: str, prefix: str, resolution: Resolution, state: str, *, by: str, now: datetime
) -> Report | None:
    """Move the standing copy of a report to ``state`` with a person's decision.

    Returns the decided report, or ``None`` when it already stands in ``state`` (nothing is
    written: deciding again is a no-op). The decided copy is written before the source is
    deleted, so an interruption leaves two copies that :func:`resolve` reads as this
    decision. A change of mind is dated after the decision it overrides even if this
    machine's clock is behind, so the rule cannot undo it.
    """
    if resolution.state == state:
        return None
    previous = resolution.item.decision
    at = decided_store.decision_time(now, previous.at if previous else None)
    report = resolution.item.decided(state, by=by, at=at)
    decided_store.move(s3, bucket, prefix, FEEDBACK_STORE, resolution, report)
    return report


def report_versions(s3: Any, bucket: str, prefix: str, report_id: str) -> list[ObjectVersion]:
    """Every stored version and delete marker of report ``report_id``, in every state.

    The production bucket is versioned, so deleting a key only hides it: erasing a report
    means deleting each of these. Malformed copies are found too (nothing is parsed).
    """
    return decided_store.item_versions(s3, bucket, prefix, FEEDBACK_STORE, report_id)


def erase_versions(s3: Any, bucket: str, versions: Iterable[ObjectVersion]) -> int:
    """Delete each version for good (a person asked to be forgotten); returns how many."""
    return decided_store.erase_versions(s3, bucket, versions, FEEDBACK_STORE)

"""The review side of the feedback store in S3: find, move and erase reports; load accepted ones.

The format (keys, report fields) lives in ``chalicelib.feedback_format``, shared with the
API, which only ever creates ``pending/`` reports. Here a person's decision moves a report
to ``accepted/`` or ``rejected/``: the decided copy is written first and the source deleted
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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.feedback_format import (
    STATES,
    Decision,
    FeedbackFormatError,
    Report,
    decision_time_text,
    parse_report,
    parse_report_key,
    parse_time,
    report_key,
    state_prefix,
    validate_report_id,
)
from chalicelib.s3_errors import NOT_FOUND_CODES, error_code

from trainer.errors import TrainerError

__all__ = [
    "FeedbackStoreError",
    "MalformedReportError",
    "ObjectVersion",
    "ReportNotFoundError",
    "Resolution",
    "decide",
    "erase_versions",
    "list_copies",
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


@dataclass(frozen=True)
class Resolution:
    """Which copy of a report stands (``report`` at ``key``) and which are leftovers."""

    report: Report
    key: str
    leftovers: tuple[str, ...] = ()

    @property
    def state(self) -> str:
        return self.report.state


@dataclass(frozen=True)
class ObjectVersion:
    """One stored version (or delete marker) of a report's key, as erasing needs it."""

    key: str
    version_id: str
    is_delete_marker: bool


def standing_state(decisions: Mapping[str, Decision]) -> str:
    """The state whose copy stands, given the decisions of a report's decided copies.

    ``decisions`` maps ``accepted``/``rejected`` to the decision stored there; with none,
    the report is ``pending``. The later decision stands; a tie goes to ``rejected``.

    >>> early = Decision("accepted", by="ann", at="2026-11-26T10:00:00Z")
    >>> late = Decision("rejected", by="bob", at="2026-11-26T11:00:00Z")
    >>> standing_state({"accepted": early, "rejected": late}), standing_state({})
    ('rejected', 'pending')
    """
    if not decisions:
        return "pending"
    return max(decisions, key=lambda state: (parse_time(decisions[state].at), state == "rejected"))


def _s3_error(action: str, bucket: str, key: str, exc: Exception) -> FeedbackStoreError:
    detail = error_code(exc) if isinstance(exc, ClientError) else str(exc)
    return FeedbackStoreError(f"could not {action} s3://{bucket}/{key}: S3 answered {detail}")


def list_copies(
    s3: Any, bucket: str, prefix: str, states: Iterable[str] = STATES
) -> dict[str, dict[str, str]]:
    """Every report id in ``states``, each with ``{state: key}`` of its copies.

    Only keys are listed (no object is read). Any other object under a state's folder is
    an error naming its key: it is nobody's report, and must not pass for one.
    """
    found: dict[str, dict[str, str]] = {}
    for state in states:
        folder = state_prefix(prefix, state)
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error("list", bucket, folder, exc) from exc
        for key in keys:
            try:
                _, report_id = parse_report_key(prefix, key)
                if report_key(prefix, state, report_id) != key:
                    raise FeedbackFormatError("its date folders are not its id's")
            except FeedbackFormatError as exc:
                raise MalformedReportError(
                    f"s3://{bucket}/{key} is not a report key ({exc})"
                ) from exc
            found.setdefault(report_id, {})[state] = key
    return found


def _copies_of(s3: Any, bucket: str, prefix: str, report_id: str) -> dict[str, str]:
    """``{state: key}`` of the copies of one report: its keys follow from its id."""
    copies: dict[str, str] = {}
    for state in STATES:
        key = report_key(prefix, state, report_id)
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                continue
            raise _s3_error("read", bucket, key, exc) from exc
        except BotoCoreError as exc:
            raise _s3_error("read", bucket, key, exc) from exc
        copies[state] = key
    return copies


def _read(s3: Any, bucket: str, key: str, state: str, report_id: str) -> Report:
    """The report stored at ``key``, checked against where it lies."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            raise ReportNotFoundError(
                f"report {report_id} vanished from s3://{bucket}/{key} while being read "
                f"(someone else is reviewing it?); run the command again"
            ) from exc
        raise _s3_error("read", bucket, key, exc) from exc
    except BotoCoreError as exc:
        raise _s3_error("read", bucket, key, exc) from exc
    try:
        report = parse_report(body)
    except FeedbackFormatError as exc:
        raise MalformedReportError(f"s3://{bucket}/{key} is not a valid report: {exc}") from exc
    if report.id != report_id:
        raise MalformedReportError(f"s3://{bucket}/{key} holds report {report.id}")
    if report.state != state:
        raise MalformedReportError(
            f"s3://{bucket}/{key} lies in {state}/ but its decision says {report.state}"
        )
    return report


def resolve(
    s3: Any, bucket: str, prefix: str, report_id: str, copies: Mapping[str, str] | None = None
) -> Resolution:
    """The copy of report ``report_id`` that stands, by :func:`standing_state`.

    ``copies`` (``{state: key}``, from :func:`list_copies`) saves looking the keys up.
    Only decided copies are read to choose; a pending one is read only when it stands.
    ``ReportNotFoundError`` when the report is nowhere.
    """
    validate_report_id(report_id)
    if copies is None:
        copies = _copies_of(s3, bucket, prefix, report_id)
    if not copies:
        raise ReportNotFoundError(f"no report {report_id} (not pending, accepted or rejected)")
    decided = {
        state: _read(s3, bucket, key, state, report_id)
        for state, key in copies.items()
        if state != "pending"
    }
    state = standing_state(
        {name: report.decision for name, report in decided.items() if report.decision}
    )
    key = copies[state]
    report = decided[state] if state in decided else _read(s3, bucket, key, state, report_id)
    leftovers = tuple(other for name, other in sorted(copies.items()) if name != state)
    return Resolution(report=report, key=key, leftovers=leftovers)


def remove_leftovers(s3: Any, bucket: str, resolution: Resolution) -> tuple[str, ...]:
    """Delete the copies of a report that do not stand; returns their keys."""
    for key in resolution.leftovers:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error("delete", bucket, key, exc) from exc
    return resolution.leftovers


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
    copies = list_copies(s3, bucket, prefix, ("accepted", "rejected"))
    accepted = []
    for report_id, where in sorted(copies.items()):
        if "accepted" not in where:
            continue
        resolution = resolve(s3, bucket, prefix, report_id, where)
        if resolution.state == "accepted":
            accepted.append(resolution.report)
    return accepted


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
    previous = resolution.report.decision
    at = now if previous is None else max(now, parse_time(previous.at) + timedelta(microseconds=1))
    report = resolution.report.decided(state, by=by, at=decision_time_text(at))
    destination = report_key(prefix, state, report.id)
    try:
        s3.put_object(
            Bucket=bucket, Key=destination, Body=report.to_json(), ContentType="application/json"
        )
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error("write", bucket, destination, exc) from exc
    try:
        s3.delete_object(Bucket=bucket, Key=resolution.key)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error("delete", bucket, resolution.key, exc) from exc
    return report


def report_versions(s3: Any, bucket: str, prefix: str, report_id: str) -> list[ObjectVersion]:
    """Every stored version and delete marker of report ``report_id``, in every state.

    The production bucket is versioned, so deleting a key only hides it: erasing a report
    means deleting each of these. Malformed copies are found too (nothing is parsed).
    """
    found: list[ObjectVersion] = []
    for state in STATES:
        key = report_key(prefix, state, validate_report_id(report_id))
        try:
            pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
            for page in pages:
                for kind, marker in (("Versions", False), ("DeleteMarkers", True)):
                    found.extend(
                        ObjectVersion(
                            key=key, version_id=item["VersionId"], is_delete_marker=marker
                        )
                        for item in page.get(kind, [])
                        if item["Key"] == key  # the prefix also matches longer keys
                    )
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error("list the versions of", bucket, key, exc) from exc
    return found


def erase_versions(s3: Any, bucket: str, versions: Iterable[ObjectVersion]) -> int:
    """Delete each version for good (a person asked to be forgotten); returns how many."""
    count = 0
    for version in versions:
        try:
            s3.delete_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(
                f"delete version {version.version_id} of", bucket, version.key, exc
            ) from exc
        count += 1
    return count

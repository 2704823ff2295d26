"""The labelling side of the capture store in S3: find, label, discard and erase records.

The format (keys, record fields, strata) lives in ``chalicelib.capture_format``, shared
with the API, which only ever creates ``pending/`` records. A person's label moves a
record to ``labelled/`` (a change of label rewrites it there), a discard to ``discarded/``,
with the machinery the feedback store shares (``trainer.decided_store``): the decided copy
is written first and the source deleted last, so a run killed half-way leaves a record in
one place or two, never in none; the next command keeps the decided copy (between
labelled and discarded, the later decision; on a tie, discarded) and removes the other.

Training reads labelled records (:func:`load_labelled`); ``monitor --quality`` reads the
labelled records of the random stratum only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.capture_format import (
    STATES,
    CaptureFormatError,
    CaptureRecord,
    parse_record,
    parse_record_key,
    record_key,
    validate_record_id,
)

from trainer import decided_store
from trainer.decided_store import ObjectVersion, Resolution, StoreFormat
from trainer.errors import TrainerError

__all__ = [
    "CAPTURE_STORE",
    "CaptureStoreError",
    "MalformedRecordError",
    "RecordNotFoundError",
    "decide_record",
    "load_labelled",
    "record_versions",
    "resolve_record",
    "validate_record_id",
]


class CaptureStoreError(TrainerError):
    """S3 did not answer as it should, or the store holds something it must not."""


class RecordNotFoundError(CaptureStoreError):
    """No record has this id, in any state."""


class MalformedRecordError(CaptureStoreError):
    """A stored object is not a record of the format, or not where its content says."""


#: The capture store, as ``trainer.decided_store`` reads and moves its records.
CAPTURE_STORE = StoreFormat(
    noun="record",
    states=STATES,
    cautious="discarded",
    key=record_key,
    parse_key=parse_record_key,
    parse=parse_record,
    validate_id=validate_record_id,
    format_error=CaptureFormatError,
    decided_at=lambda record: record.labelling.at if record.labelling else None,
    error=CaptureStoreError,
    not_found=RecordNotFoundError,
    malformed=MalformedRecordError,
)


def resolve_record(
    s3: Any, bucket: str, prefix: str, record_id: str, copies: Mapping[str, str] | None = None
) -> Resolution:
    """The copy of record ``record_id`` that stands (``trainer.decided_store.resolve``)."""
    return decided_store.resolve(s3, bucket, prefix, CAPTURE_STORE, record_id, copies)


def load_labelled(s3: Any, bucket: str, prefix: str) -> list[CaptureRecord]:
    """Every labelled record under ``prefix``, parsed and validated, oldest id first.

    What training learns from and ``monitor --quality`` measures with. A record labelled and
    later discarded (a change of mind not yet tidied up) is left out; a malformed object
    raises ``MalformedRecordError`` naming its key. Read only.
    """
    return decided_store.load_standing(
        s3, bucket, prefix, CAPTURE_STORE, "labelled", rivals=("discarded",)
    )


def decide_record(
    s3: Any,
    bucket: str,
    prefix: str,
    resolution: Resolution,
    label: str | None,
    *,
    by: str,
    now: datetime,
) -> CaptureRecord | None:
    """Label the standing copy of a record (``label`` spam or ham), or discard it (``None``).

    Returns the decided record, or ``None`` when it already stands so (nothing is written:
    deciding again is a no-op). A new label for a labelled record rewrites it in place; a
    move writes before it deletes (``trainer.decided_store.move``). A change of mind is
    dated after the decision it overrides, whatever this machine's clock says.
    """
    record: CaptureRecord = resolution.item
    wanted = "discarded" if label is None else "labelled"
    if record.state == wanted and record.label == label:
        return None
    previous = record.labelling.at if record.labelling else None
    at = decided_store.decision_time(now, previous)
    decided = (
        record.discarded(by=by, at=at) if label is None else record.labelled(label, by=by, at=at)
    )
    decided_store.move(s3, bucket, prefix, CAPTURE_STORE, resolution, decided)
    return decided


def record_versions(s3: Any, bucket: str, prefix: str, record_id: str) -> list[ObjectVersion]:
    """Every stored version and delete marker of record ``record_id``, in every state."""
    return decided_store.item_versions(s3, bucket, prefix, CAPTURE_STORE, record_id)

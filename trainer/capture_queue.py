"""Which pending records a person labels next (``python -m trainer capture queue``). Pure.

A batch serves two ends, and its slots are shared between them:

- *learning*: records of the uncertain stratum, rescored with the live model (the
  probabilities stored at capture go stale after a retrain), the least certain first:
  closest to the live threshold on the published scale, where a label moves the model most;
- *measuring*: ``RANDOM_SHARE`` of every batch goes to the random stratum, whose labels
  alone give the live error rates (``monitor --quality``). Those records are served in
  arrival order (oldest id first), an order that knows nothing of the model or the label:
  chosen by their scores, the labelled ones would over-represent the model's hard cases
  and the estimate would overstate its errors. A random-stratum record is therefore never
  served in a learning slot; it is learnt from once labelled, like any other.

The random slots are spread through the batch (a person may stop half-way): after ``m``
records, ``round(m * share)`` of them were random. When one stratum runs out, the other
fills its slots. Nothing here shows a verdict or a probability.

Before any of that, the first ``RANDOM_FIRST`` labels of a store all go to the random stratum
(the "seed set" of active learning): a live model that has learnt nothing of the place
hesitates where its old data put its threshold, not where the place is hard (the SMS model
answering email hesitates on the emails it finds least spammy, and blocks most of the ham
with confidence), so its least certain records teach less than random ones until it has
learnt from some of those; and the live error rates need them anyway.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from chalicelib.capture_format import CaptureRecord

__all__ = ["RANDOM_FIRST", "RANDOM_SHARE", "is_random_slot", "queue_order"]

#: The share of every batch reserved for the random stratum (why this share: trainer/README.md,
#: "The labelling queue").
RANDOM_SHARE = 0.25
#: How many random-stratum records are labelled before the uncertain stratum is served
#: (why: the module's docstring; the figures: trainer/README.md, "The labelling queue").
RANDOM_FIRST = 50


def is_random_slot(position: int, share: float = RANDOM_SHARE) -> bool:
    """Whether the batch's ``position``-th record (from 0) is a random-stratum slot.

    >>> "".join("R" if is_random_slot(i, 0.25) else "u" for i in range(12))
    'uRuuuRuuuRuu'
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the random share must be between 0 and 1, got {share}")

    def served(m: int) -> int:  # random slots among the first m records, rounded half up
        return math.floor(m * share + 0.5)

    return served(position + 1) > served(position)


def queue_order(
    pending: Sequence[CaptureRecord],
    live_scores: Mapping[str, float],
    threshold: float,
    size: int,
    share: float = RANDOM_SHARE,
    *,
    random_labelled: int,
) -> list[CaptureRecord]:
    """The next ``size`` pending records to label, in the order to label them.

    ``live_scores`` maps each uncertain-stratum record's id to the live model's spam
    probability on its text; ``threshold`` is the live model's published threshold;
    ``random_labelled`` counts the random-stratum records labelled so far (the first
    ``RANDOM_FIRST`` slots of a store are random ones).

    >>> from chalicelib.capture_format import new_record
    >>> def rec(n, stratum):
    ...     return new_record(f"text {n}", record_id=f"20261206T10150{n}Z-{n:016x}",
    ...         captured_at="2026-12-06T10:15:00Z", request_id="r", position=0,
    ...         model_version="v1", spam_probability=0.5, threshold=0.5, stratum=stratum,
    ...         inclusion_probability=0.5)
    >>> pending = [rec(1, "random"), rec(2, "uncertain"), rec(3, "uncertain"), rec(4, "random")]
    >>> live = {pending[1].id: 0.9, pending[2].id: 0.45}
    >>> [r.text for r in queue_order(pending, live, 0.5, 4, random_labelled=RANDOM_FIRST)]
    ['text 3', 'text 1', 'text 2', 'text 4']
    >>> [r.text for r in queue_order(pending, live, 0.5, 4, random_labelled=RANDOM_FIRST - 1)]
    ['text 1', 'text 3', 'text 4', 'text 2']
    """
    if size < 0:
        raise ValueError(f"the batch size must not be negative, got {size}")
    uncertain = sorted(
        (r for r in pending if r.stratum == "uncertain"),
        key=lambda r: (abs(live_scores[r.id] - threshold), r.id),
    )
    random = sorted((r for r in pending if r.stratum == "random"), key=lambda r: r.id)
    if random_labelled < 0:
        raise ValueError(f"the labelled count must not be negative, got {random_labelled}")
    seeding = max(0, RANDOM_FIRST - random_labelled)  # slots still owed to the seed set
    batch: list[CaptureRecord] = []
    for position in range(min(size, len(pending))):
        wants_random = position < seeding or is_random_slot(position - seeding, share)
        first, second = (random, uncertain) if wants_random else (uncertain, random)
        batch.append((first or second).pop(0))
    return batch

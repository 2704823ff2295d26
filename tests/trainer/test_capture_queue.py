"""The labelling queue's order (``trainer.capture_queue``), pure: least certain first, a share
of every batch for the random stratum in arrival order, one stratum filling in for the other."""

from __future__ import annotations

import random

import pytest
from chalicelib.capture_format import CaptureRecord

from tests.support import capture_record
from trainer.capture_queue import RANDOM_FIRST, RANDOM_SHARE, is_random_slot, queue_order

#: A store whose seed set is labelled: every batch has the share's random slots.
SEEDED = RANDOM_FIRST


def record(n: int, stratum: str, stored: float = 0.5) -> CaptureRecord:
    return capture_record(n, stratum, stored=stored)


def test_the_share_of_random_slots_holds_in_every_prefix_of_a_batch() -> None:
    for share in (0.0, 0.1, RANDOM_SHARE, 0.5, 1.0):
        slots = [is_random_slot(i, share) for i in range(200)]
        for m in range(1, 201):  # after m records, round(m * share) were random, half up
            assert sum(slots[:m]) == int(m * share + 0.5), (share, m)
    with pytest.raises(ValueError, match="between 0 and 1"):
        is_random_slot(0, 1.5)


def test_the_uncertain_stratum_comes_least_certain_first_by_the_live_scores() -> None:
    uncertain = [record(n, "uncertain", stored=0.5) for n in range(8)]
    scores = [0.9, 0.52, 0.12, 0.47, 0.7, 0.28, 0.55, 0.2]
    live = {r.id: p for r, p in zip(uncertain, scores, strict=True)}
    order = queue_order(uncertain, live, threshold=0.5, size=8, share=0.0, random_labelled=SEEDED)
    assert [live[r.id] for r in order] == [0.52, 0.47, 0.55, 0.7, 0.28, 0.2, 0.12, 0.9]
    # the stored probability plays no part: the same records stored otherwise, same order
    restored = [record(n, "uncertain", stored=1.0 - n / 10) for n in range(8)]
    assert [r.id for r in queue_order(restored, live, 0.5, 8, 0.0, random_labelled=SEEDED)] == [
        r.id for r in order
    ]
    assert [r.id for r in queue_order(uncertain, live, 0.3, 3, 0.0, random_labelled=SEEDED)] == [
        uncertain[5].id,  # 0.28: 0.02 from the threshold
        uncertain[7].id,  # 0.2: 0.1 from it
        uncertain[3].id,  # 0.47: 0.17 (0.12 is 0.18 away)
    ]


def test_a_batch_keeps_its_share_for_the_random_stratum_in_arrival_order() -> None:
    rng = random.Random(3)
    uncertain = [record(n, "uncertain") for n in range(100, 160)]
    randoms = [record(n, "random") for n in range(40)]
    live = {r.id: rng.random() for r in uncertain}
    # scores for the random stratum too, to show they are not used to pick it
    live.update({r.id: 0.5 for r in randoms[20:]})
    pending = uncertain + randoms
    rng.shuffle(pending)
    batch = queue_order(pending, live, 0.5, 20, random_labelled=SEEDED)
    picked_random = [r for r in batch if r.stratum == "random"]
    assert len(picked_random) == round(20 * RANDOM_SHARE) == 5
    assert picked_random == randoms[:5]  # the oldest five, whatever any score says
    positions = [i for i, r in enumerate(batch) if r.stratum == "random"]
    assert positions == [i for i in range(20) if is_random_slot(i)]
    picked_uncertain = [r for r in batch if r.stratum == "uncertain"]
    distances = [abs(live[r.id] - 0.5) for r in picked_uncertain]
    assert distances == sorted(distances)
    assert max(distances) <= min(
        abs(live[r.id] - 0.5) for r in uncertain if r not in picked_uncertain
    )


def test_when_one_stratum_runs_out_the_other_fills_its_slots() -> None:
    uncertain = [record(n, "uncertain") for n in range(100, 103)]
    randoms = [record(n, "random") for n in range(10)]
    live = {r.id: 0.5 + i / 10 for i, r in enumerate(uncertain)}
    batch = queue_order(uncertain + randoms, live, 0.5, 8, random_labelled=SEEDED)
    assert [r.stratum for r in batch].count("uncertain") == 3
    assert [r for r in batch if r.stratum == "random"] == randoms[:5]
    only_uncertain = queue_order(uncertain, live, 0.5, 10, random_labelled=SEEDED)
    assert only_uncertain == uncertain  # fewer than asked: all of them, least certain first
    assert queue_order(randoms, {}, 0.5, 4, random_labelled=SEEDED) == randoms[:4]
    assert queue_order([], {}, 0.5, 4, random_labelled=SEEDED) == []


def test_a_store_labels_its_first_random_records_before_any_uncertain_one() -> None:
    uncertain = [record(n, "uncertain") for n in range(100, 200)]
    randoms = [record(n, "random") for n in range(80)]
    live = {r.id: 0.5 for r in uncertain}
    pending = uncertain + randoms
    fresh = queue_order(pending, live, 0.5, RANDOM_FIRST + 10, random_labelled=0)
    assert fresh[:RANDOM_FIRST] == randoms[:RANDOM_FIRST]  # the seed set, oldest first
    after = [r.stratum == "random" for r in fresh[RANDOM_FIRST:]]
    assert after == [is_random_slot(i) for i in range(10)]  # then the share, as usual
    owed = queue_order(pending, live, 0.5, 12, random_labelled=RANDOM_FIRST - 5)
    assert [r.stratum for r in owed[:5]] == ["random"] * 5
    assert [r.stratum == "random" for r in owed[5:]] == [is_random_slot(i) for i in range(7)]
    past = queue_order(pending, live, 0.5, 4, random_labelled=RANDOM_FIRST + 30)
    assert [r.stratum for r in past] == [
        "random" if is_random_slot(i) else "uncertain" for i in range(4)
    ]
    few = queue_order(uncertain[:5] + randoms[:3], live, 0.5, 6, random_labelled=0)
    assert [r.stratum for r in few] == ["random"] * 3 + ["uncertain"] * 3  # none left: filled
    with pytest.raises(ValueError, match="negative"):
        queue_order(randoms, {}, 0.5, 4, random_labelled=-1)

"""The labelling curve's pieces (``bench.labelling``): the traffic a round captures, the
labels a careful person gives, and rounds through the queue on a small place."""

from __future__ import annotations

import numpy as np
from chalicelib.capture_format import capture_stratum, inclusion_probability

from bench.adaptation import Setup, split_place
from bench.labelling import capture_traffic, label_records, pool_index, queue_curve
from tests.support import fast_train_options
from trainer.capture_queue import RANDOM_FIRST
from trainer.data import Message


def _pool(n: int = 400) -> list[Message]:
    return [
        Message(
            f"{'win cash prize now' if i % 3 == 0 else 'see you at lunch'} number {i}",
            "spam" if i % 3 == 0 else "ham",
            "new",
            f"new:{i}",
        )
        for i in range(n)
    ]


def test_a_round_keeps_what_the_api_would_of_the_first_half_and_never_a_message_twice() -> None:
    halves = split_place(_pool())
    spam_word = lambda messages: np.array([0.45 if "win" in m.text else 0.9 for m in messages])  # noqa: E731
    kept = capture_traffic(halves, 1, spam_word, 0.5, set(), rate=0.2, uncertain_rate=0.5)
    first = {int(i) for i in halves.first}
    assert kept and {pool_index(r) for r in kept} <= first  # never the second half
    for record in kept:  # the API's own decision, probability and weight
        i = pool_index(record)
        p = 0.45 if "win" in halves.pool[i].text else 0.9
        assert record.text == halves.pool[i].text and record.spam_probability == p
        assert record.stratum == capture_stratum(
            record.request_id, 0, spam_probability=p, threshold=0.5, band=0.1, rate=0.2,
            uncertain_rate=0.5,
        )  # fmt: skip
        assert record.inclusion_probability == inclusion_probability(record.stratum, 0.2, 0.5)
    # the uncertain stratum is what the live model hesitates on: within the band, here spam
    assert all("win" in r.text for r in kept if r.stratum == "uncertain")
    assert {r.stratum for r in kept} == {"random", "uncertain"}
    again = capture_traffic(halves, 1, spam_word, 0.5, set(), rate=0.2, uncertain_rate=0.5)
    assert [r.id for r in again] == [r.id for r in kept]  # predictable: seeded by the round
    later = capture_traffic(
        halves, 2, spam_word, 0.5, {pool_index(r) for r in kept}, rate=0.2, uncertain_rate=0.5
    )
    assert later and not {pool_index(r) for r in later} & {pool_index(r) for r in kept}
    assert all(r.id[:8] == "20260103" for r in later)  # round 2 arrives on its own day
    arrival = [pool_index(r) for r in sorted(kept, key=lambda r: r.id)]
    assert arrival != sorted(arrival)  # not in the pool's order (ham first, folder by folder)


def test_labels_are_the_messages_own() -> None:
    halves = split_place(_pool())
    kept = capture_traffic(halves, 1, lambda ms: np.full(len(ms), 0.5), 0.5, set(), rate=0.3)
    labelled = label_records(halves, kept)
    assert [r.label for r in labelled] == [halves.pool[pool_index(r)].label for r in kept]
    assert all(r.state == "labelled" for r in labelled)


def test_rounds_through_the_queue_start_with_the_random_seed_set_and_learn_the_place() -> None:
    corpus = [
        Message(f"{'claim your free prize' if i % 4 == 0 else 'meeting at noon'} c{i}",
                "spam" if i % 4 == 0 else "ham", "corpus", f"c:{i}")
        for i in range(240)
    ]  # fmt: skip
    # the place: its ham talks of invoices, which the corpus never saw, and shares words with
    # its spam (six words each, drawn 70/30 from the two vocabularies): some are hard
    rng = np.random.default_rng(0)
    spam_words = "claim prize today free winner cash urgent offer".split()  # noqa: SIM905
    ham_words = "invoice attached order shipping account payment report team".split()  # noqa: SIM905
    place = []
    for i in range(600):
        label = "spam" if i % 3 == 0 else "ham"
        own, other = (spam_words, ham_words) if label == "spam" else (ham_words, spam_words)
        words = [rng.choice(own if rng.random() < 0.7 else other) for _ in range(6)]
        place.append(Message(" ".join(words) + f" p{i}", label, "place", f"p:{i}"))
    setup = Setup("synthetic", corpus, place)
    lines: list[str] = []
    rows = queue_curve(setup, fast_train_options(), rounds=2, rate=0.3, say=lines.append)
    assert [row["k"] for row in rows] == [0, 50, 100] and len(lines) == 3
    assert rows[1]["random_labelled"] == min(50, RANDOM_FIRST)  # the seed set first
    assert rows[2]["random_labelled"] < 100  # then the uncertain stratum gets slots
    assert rows[2]["new"]["mcc"] >= rows[0]["new"]["mcc"]
    assert abs(rows[2]["base"]["mcc"] - rows[0]["base"]["mcc"]) <= 0.01

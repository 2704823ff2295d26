"""The adaptation curve's pieces: what can be reported, the halves and the rounds, reports,
how it scores."""

from __future__ import annotations

import numpy as np
import pytest

from bench.adaptation import error_round, random_reports, split_place
from bench.adaptation_reports import MAX_REPORT_CHARS, as_reports, reportable, score
from tests.support import fit_default
from trainer.data import Message
from trainer.feedback import merge_feedback


def _pool(n: int = 300, spam_every: int = 4) -> list[Message]:
    return [
        Message(
            f"{'win cash prize' if i % spam_every == 0 else 'see you at lunch'} {i}",
            "spam" if i % spam_every == 0 else "ham",
            "new",
            f"new:{i}",
        )
        for i in range(n)
    ]


def test_only_new_reportable_texts_are_pooled() -> None:
    corpus = [Message("Known text", "ham", "c", "c:1")]
    new = [
        Message("known  TEXT", "spam", "n", "n:1"),  # the corpus has it
        Message("x" * (MAX_REPORT_CHARS + 1), "spam", "n", "n:2"),  # the API refuses it
        Message("fresh", "ham", "n", "n:3"),
        Message(" FRESH", "ham", "n", "n:4"),  # a duplicate of n:3
        Message("x" * MAX_REPORT_CHARS, "spam", "n", "n:5"),
    ]
    assert MAX_REPORT_CHARS == 20_000
    assert [m.origin for m in reportable(new, corpus)] == ["n:3", "n:5"]


def test_the_place_is_split_once_in_halves_stratified_and_seeded() -> None:
    pool = _pool()
    halves = split_place(pool)
    assert set(halves.first.tolist()).isdisjoint(halves.second.tolist())
    assert sorted([*halves.first, *halves.second]) == list(range(len(pool)))
    assert len(halves.first) == len(halves.second) == 150
    assert sum(pool[i].label == "spam" for i in halves.first) in (37, 38)  # a quarter
    again = split_place(pool)
    assert halves.first.tolist() == again.first.tolist()
    assert halves.first.tolist() != split_place(pool, seed=8).first.tolist()


def test_random_reports_are_stratified_nested_seeded_and_from_the_first_half() -> None:
    halves = split_place(_pool())
    picks = {k: random_reports(halves, k) for k in (20, 100)}
    assert set(picks[20]) <= set(picks[100]) <= set(halves.first.tolist())
    assert sum(halves.pool[i].label == "spam" for i in picks[100]) == 25  # as the half
    assert random_reports(halves, 20) == picks[20]
    assert random_reports(halves, 20, seed=8) != picks[20]
    with pytest.raises(ValueError, match="between 0 and 150"):
        random_reports(halves, 151)


def test_a_round_reports_only_errors_of_the_first_half_never_twice_seeded() -> None:
    halves = split_place(_pool())

    # a model that calls every tenth message spam: wrong on most spam and on some ham
    def model(messages: list[Message]) -> np.ndarray:
        return np.array([0.9 if int(m.origin.split(":")[1]) % 10 == 0 else 0.1 for m in messages])

    def wrong(i: int) -> bool:
        return (model([halves.pool[i]])[0] >= 0.5) != (halves.pool[i].label == "spam")

    errors = {int(i) for i in halves.first if wrong(int(i))}
    first = error_round(halves, [], model, 0.5, 1, size=20)
    assert len(first) == 20 and set(first) <= errors
    second = error_round(halves, first, model, 0.5, 2, size=20)
    assert set(second) <= errors and not set(first) & set(second)
    assert error_round(halves, [], model, 0.5, 1, size=20) == first  # seeded by (7, round)
    assert error_round(halves, [], model, 0.5, 2, size=20) != first
    rest = error_round(halves, first + second, model, 0.5, 3, size=200)
    assert set(rest) == errors - set(first) - set(second)  # fewer left than asked: all of them
    assert error_round(halves, sorted(errors), model, 0.5, 4) == []


def test_picked_messages_become_reports_the_trainer_takes_and_the_rest_is_scored() -> None:
    pool = _pool(120)
    halves = split_place(pool)
    picked = random_reports(halves, 40)
    reports = as_reports(pool, picked)
    assert [(r.text, r.label) for r in reports] == [(pool[i].text, pool[i].label) for i in picked]
    assert len({r.id for r in reports}) == 40
    merged, info = merge_feedback([], reports)
    assert len(merged) == 40 and info.used == tuple(sorted(r.id for r in reports))
    vectorizer, classifier = fit_default([m.text for m in pool], [m.label for m in pool])
    report = score(vectorizer, classifier, 0.5, halves.messages(halves.second))
    assert report["n"] == 60 and report["mcc"] == 1.0

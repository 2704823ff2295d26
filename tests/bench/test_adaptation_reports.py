"""The adaptation curve's pure pieces: what can be reported, which k are, how it scores."""

from __future__ import annotations

import pytest

from bench.adaptation_reports import (
    MAX_REPORT_CHARS,
    as_reports,
    pick_reports,
    reportable,
    score,
    unpicked,
)
from tests.support import fit_default
from trainer.data import Message
from trainer.feedback import merge_feedback
from trainer.protocol import normalize_text


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


def test_random_picks_are_stratified_nested_seeded_and_disjoint_from_the_scored() -> None:
    pool = _pool()
    picks = {k: pick_reports(pool, k, 7, "random") for k in (50, 200)}
    assert set(picks[50]) <= set(picks[200])
    assert sum(pool[i].label == "spam" for i in picks[200]) == 50  # a quarter, as the pool
    assert pick_reports(pool, 50, 7, "random") == picks[50]
    assert pick_reports(pool, 50, 8, "random") != picks[50]
    scored = {normalize_text(m.text) for m in unpicked(pool, picks[200])}
    reported = {normalize_text(pool[i].text) for i in picks[200]}
    assert not scored & reported and len(scored) + len(reported) == len(pool)


def test_wrong_picks_come_only_from_the_models_errors() -> None:
    pool = _pool()
    wrong = [i % 10 == 0 for i in range(len(pool))]
    picked = pick_reports(pool, 20, 7, "wrong", wrong)
    assert len(picked) == 20 and all(wrong[i] for i in picked)
    assert len(pick_reports(pool, 200, 7, "wrong", wrong)) == 30  # only 30 are wrong
    with pytest.raises(ValueError, match="one wrong flag"):
        pick_reports(pool, 5, 7, "wrong")
    with pytest.raises(ValueError, match="strategy"):
        pick_reports(pool, 5, 7, "worst")


def test_picked_messages_become_reports_the_trainer_takes_and_the_rest_is_scored() -> None:
    pool = _pool(120)
    picked = pick_reports(pool, 40, 7, "random")
    reports = as_reports(pool, picked)
    assert [(r.text, r.label) for r in reports] == [(pool[i].text, pool[i].label) for i in picked]
    assert len({r.id for r in reports}) == 40
    merged, info = merge_feedback([], reports)
    assert len(merged) == 40 and info.used == tuple(sorted(r.id for r in reports))
    vectorizer, classifier = fit_default([m.text for m in pool], [m.label for m in pool])
    report = score(vectorizer, classifier, 0.5, unpicked(pool, picked))
    assert report["n"] == 80 and report["mcc"] == 1.0

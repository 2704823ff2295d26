"""How the reports' expert gets its threshold and the gate its prior (``trainer.experts``).

Synthetic out-of-fold scores, so each mechanism is seen on its own: reports from a medium
the corpus never saw, whose ham and spam both score lower than the corpus's, and a gate
that, fitted on thousands of corpus rows and a few hundred reports, routes reports to the
corpus expert.
"""

from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluate import classification_report
from trainer.experts import (
    ExpertsCV,
    _best_gate,
    _gate_settings,
    _per_place_key,
    select_experts,
)
from trainer.thresholds import MIN_TAIL_HAM, tail_threshold

RATE = 0.002


def _scores(rng: np.random.Generator, centre: float, n: int) -> np.ndarray:
    return rng.normal(centre, 1.0, n)


def _cv(seed: int = 0, n_reports: int = 200) -> tuple[ExpertsCV, np.ndarray, np.ndarray]:
    """1,700 corpus ham and 300 spam; reports a quarter spam; two gates (as fitted, balanced)."""
    rng = np.random.default_rng(seed)
    n_spam_reports = n_reports // 4
    y = np.r_[
        np.zeros(1700), np.ones(300), np.zeros(n_reports - n_spam_reports), np.ones(n_spam_reports)
    ].astype(int)
    media = np.array(["sms"] * 2000 + ["feedback"] * n_reports, dtype=object)
    corpus = media == "sms"
    reports_ham, reports_spam = ~corpus & (y == 0), ~corpus & (y == 1)

    def logits(report_ham: float, report_spam: float) -> np.ndarray:
        z = np.where(y == 1, _scores(rng, 4.0, y.size), _scores(rng, -4.0, y.size))
        z[reports_ham] = _scores(rng, report_ham, int(reports_ham.sum()))
        z[reports_spam] = _scores(rng, report_spam, int(reports_spam.sum()))
        return z[None, :]

    # the reports' expert ranks them well but low; the corpus expert calls them all spam-ish
    expert_logits = {"feedback": logits(-7.0, -1.5), "sms": logits(1.0, 1.5)}
    as_fitted = np.where(corpus, 0.02, 0.35)  # P(feedback): unsure about reports
    balanced = np.where(corpus, 0.10, 0.90)
    gate = np.stack([np.column_stack([g, 1 - g]) for g in (as_fitted, balanced)])
    cv = ExpertsCV(
        media=("feedback", "sms"),
        grids={"feedback": ({"C": 1.0, "report_weight": 1.0},), "sms": ({"C": 1.0},)},
        gate_grid=_gate_settings(({"C": 1.0},), ("feedback",)),
        logits=expert_logits,
        gate=gate,
        cpu_seconds=0.0,
        pooled=("feedback",),
    )
    return cv, y, media


def test_the_tail_threshold_holds_its_rate_and_does_not_climb_with_more_ham() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.normal(-3.0, 1.0, 100), rng.normal(-3.0, 1.0, 5000)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    cut_small, cut_large = tail_threshold(sig(small), RATE), tail_threshold(sig(large), RATE)
    assert cut_small is not None and cut_large is not None
    # both near the true 99.8 % point of N(-3, 1) (logit -0.12), wherever the highest ham is
    assert abs(np.log(cut_small / (1 - cut_small)) + 0.12) < 0.5
    assert abs(np.log(cut_large / (1 - cut_large)) + 0.12) < 0.15
    assert tail_threshold(sig(small[: MIN_TAIL_HAM - 1]), RATE) is None
    assert tail_threshold(sig(small), 0.0) is None


def test_reports_from_an_unseen_medium_get_a_threshold_of_their_own() -> None:
    cv, y, media = _cv()
    chosen = select_experts(cv, y, media.astype(str), media, RATE, sharpness=(1.0,))
    table = chosen.metrics["experts"]["feedback"]
    rules = {c["threshold_rule"]: c for c in table["candidates"]}
    assert set(rules) == {"corpus", "own tail"}
    # the corpus's rule sits above most of the reports' spam; the own tail does not
    assert rules["own tail"]["threshold"] < rules["corpus"]["threshold"]
    assert rules["own tail"]["recall"] > rules["corpus"]["recall"] + 0.3
    assert table["selected"]["threshold_rule"] == "own tail"
    assert chosen.thresholds["feedback"] == pytest.approx(rules["own tail"]["threshold"])
    # a medium of its own keeps the one rule
    assert {c["threshold_rule"] for c in chosen.metrics["experts"]["sms"]["candidates"]} == {"own"}


def test_with_too_few_reports_ham_only_the_corpus_rule_is_offered() -> None:
    cv, y, media = _cv(n_reports=40)  # 30 ham, of which CV sees them all: exactly enough
    rules = select_experts(cv, y, media.astype(str), media, RATE, sharpness=(1.0,))
    assert {c["threshold_rule"] for c in rules.metrics["experts"]["feedback"]["candidates"]} == {
        "corpus",
        "own tail",
    }
    cv, y, media = _cv(n_reports=36)  # 27 ham
    rules = select_experts(cv, y, media.astype(str), media, RATE, sharpness=(1.0,))
    assert {c["threshold_rule"] for c in rules.metrics["experts"]["feedback"]["candidates"]} == {
        "corpus"
    }


def test_the_gate_is_chosen_for_the_reports_place_as_much_as_for_the_corpus() -> None:
    cv, y, media = _cv()
    chosen = select_experts(cv, y, media.astype(str), media, RATE, sharpness=(1.0,))
    assert chosen.gate_params["class_weight"] == "balanced"
    rows = chosen.metrics["gate"]["candidates"]
    assert all("per_place_key" in r for r in rows)
    reports = media == "feedback"
    on_reports = classification_report(y[reports], chosen.oof_scores[reports], chosen.threshold)
    assert on_reports["mcc"] > 0.8


def test_the_per_place_key_weighs_each_place_alike() -> None:
    y = np.array([0, 1] * 50 + [0, 1, 1, 0])
    scores = np.r_[np.tile([0.1, 0.9], 50), [0.9, 0.1, 0.1, 0.9]]  # the small place all wrong
    big, small = np.arange(y.size) < 100, np.arange(y.size) >= 100
    mcc, recall = _per_place_key(y, scores, 0.5, [big, small])
    assert mcc == pytest.approx(0.0) and recall == pytest.approx(0.5)


def test_the_balanced_gate_is_offered_only_with_reports() -> None:
    assert _gate_settings(({"C": 10.0},), ()) == ({"C": 10.0},)
    assert _gate_settings(({"C": 10.0},), ("feedback",))[1] == {
        "C": 10.0,
        "class_weight": "balanced",
    }


def test_a_gate_that_costs_the_corpus_is_not_chosen_for_the_reports() -> None:
    rows = [{"corpus_mcc": 0.960}, {"corpus_mcc": 0.950}, {"corpus_mcc": 0.957}]
    keys = [(0.80, 0.8), (0.90, 0.9), (0.85, 0.8)]
    assert _best_gate(rows, keys) == 2  # the best key (1) costs the corpus 0.01
    assert _best_gate([{}, {}], [(0.5, 0.5), (0.6, 0.5)]) == 1  # no reports: the key alone

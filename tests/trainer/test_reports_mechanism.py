"""How the reports' expert is weighted, chosen and thresholded (``trainer.experts``).

Synthetic out-of-fold scores, so each rule is seen on its own: the reports join every
fold's training and are never scored, so nothing about them (how many, which label, how
they score) can move a choice or a threshold; only the corpus's out-of-fold scores do.
"""

from __future__ import annotations

import numpy as np
import pytest

from trainer.experts import (
    REPORT_WEIGHT,
    ExpertsCV,
    _gate_settings,
    expert_rows,
    report_weights,
    select_experts,
)
from trainer.thresholds import strictest_threshold

RATE = 0.002
N_CORPUS = 2000


def _cv(seed: int = 0, n_reports: int = 200, report_logit: float = -1.5) -> tuple:
    """1,700 corpus ham and 300 spam, then reports (a quarter spam); two expert settings."""
    rng, report_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    n_spam_reports = n_reports // 4
    y = np.r_[
        np.zeros(1700), np.ones(300), np.zeros(n_reports - n_spam_reports), np.ones(n_spam_reports)
    ].astype(int)
    media = np.array(["sms"] * N_CORPUS + ["feedback"] * n_reports, dtype=object)
    corpus = media == "sms"

    def logits(spread: float) -> np.ndarray:
        spam, ham = rng.normal(4.0, spread, N_CORPUS), rng.normal(-4.0, spread, N_CORPUS)
        reports = report_rng.normal(report_logit, 1.0, n_reports)  # never read
        return np.r_[np.where(y[:N_CORPUS] == 1, spam, ham), reports]

    expert_logits = {
        "feedback": np.vstack([logits(2.5), logits(1.0)]),  # the second setting ranks better
        "sms": logits(1.0)[None, :],
    }
    p_feedback = np.r_[rng.uniform(0.0, 0.2, N_CORPUS), report_rng.uniform(0.0, 1.0, n_reports)]
    gate = np.stack([np.column_stack([p_feedback, 1 - p_feedback])])
    cv = ExpertsCV(
        media=("feedback", "sms"),
        grids={"feedback": ({"C": 1.0}, {"C": 2.0}), "sms": ({"C": 1.0},)},
        gate_grid=_gate_settings(({"C": 1.0},), ("feedback",)),
        logits=expert_logits,
        gate=gate,
        scored=corpus,
        cpu_seconds=0.0,
        pooled=("feedback",),
    )
    return cv, y, media


def _select(cv, y, media):
    return select_experts(cv, y, media.astype(str), media, RATE, sharpness=(1.0, 4.0))


def test_the_reports_expert_is_chosen_and_thresholded_on_the_corpus_alone() -> None:
    cv, y, media = _cv()
    chosen = _select(cv, y, media)
    assert chosen.params["feedback"] == {"C": 2.0}  # the setting that ranks the corpus better
    corpus = media == "sms"
    expected, _ = strictest_threshold(
        1 / (1 + np.exp(-cv.logits["feedback"][1][corpus])), y[corpus], media[corpus], RATE
    )
    assert chosen.thresholds["feedback"] == pytest.approx(expected)
    assert chosen.oof_scores.size == N_CORPUS  # the mixture is scored on the corpus only


@pytest.mark.parametrize("change", ["report scores", "report count", "report labels"])
def test_nothing_about_the_reports_moves_a_choice_or_a_threshold(change: str) -> None:
    cv, y, media = _cv()
    before = _select(cv, y, media)
    if change == "report scores":
        other, y2, media2 = _cv(report_logit=6.0)
    elif change == "report count":
        other, y2, media2 = _cv(n_reports=40)
    else:
        other, y2, media2 = cv, y.copy(), media
        y2[~cv.scored] = 1 - y2[~cv.scored]
    after = _select(other, y2, media2)
    assert after.params == before.params and after.gate_params == before.gate_params
    assert after.thresholds == before.thresholds and after.threshold == before.threshold


def test_with_reports_every_gate_setting_takes_the_media_as_equally_likely() -> None:
    assert _gate_settings(({"C": 10.0}, {"C": 100.0}), ()) == ({"C": 10.0}, {"C": 100.0})
    assert _gate_settings(({"C": 10.0}, {"C": 100.0}), ("feedback",)) == (
        {"C": 10.0, "class_weight": "balanced"},
        {"C": 100.0, "class_weight": "balanced"},
    )
    cv, y, media = _cv()
    assert _select(cv, y, media).gate_params["class_weight"] == "balanced"


@pytest.mark.parametrize(("n_spam", "n_ham"), [(2, 48), (25, 25), (40, 10), (0, 30), (1, 0)])
def test_spam_and_ham_reports_weigh_the_same_and_each_report_weight_on_average(
    n_spam: int, n_ham: int
) -> None:
    labels = np.r_[np.ones(n_spam), np.zeros(n_ham)].astype(int)
    weights = report_weights(labels)
    half = REPORT_WEIGHT * labels.size / 2
    for label, count in ((1, n_spam), (0, n_ham)):
        mine = weights[labels == label]
        assert mine.sum() == pytest.approx(half if count else 0.0)
        assert np.allclose(mine, mine[0]) if count else mine.size == 0
    if n_spam and n_ham:  # both labels: REPORT_WEIGHT per report on average
        assert weights.mean() == pytest.approx(REPORT_WEIGHT)


def test_the_reports_expert_learns_every_row_and_the_corpus_expert_its_own() -> None:
    media = np.array(["sms"] * 6 + ["feedback"] * 4)
    y = np.array([0, 0, 0, 0, 1, 1, 0, 0, 0, 1])
    rows, weights = expert_rows("feedback", media, y, ["feedback"])
    assert rows.tolist() == list(range(10))
    assert weights[:6].tolist() == [1.0] * 6  # the corpus's rows, as they are
    assert weights[6:].sum() == pytest.approx(4 * REPORT_WEIGHT)
    assert weights[9] == pytest.approx(3 * weights[6])  # one spam weighs what three ham do
    rows, weights = expert_rows("sms", media, y, ["feedback"])
    assert rows.tolist() == list(range(6)) and weights is None


def test_the_offset_fit_is_scikit_learns_logistic_regression_when_the_offset_is_zero() -> None:
    from sklearn.linear_model import LogisticRegression

    from trainer.experts import _offset_logistic

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 6))
    y = (x @ np.array([1.5, -2.0, 0.5, 0.0, 0.0, 1.0]) + rng.normal(size=300) > 0).astype(int)
    weights = rng.uniform(0.5, 3.0, 300)
    coef, intercept = _offset_logistic(x, y, np.zeros(300), weights, 0.7)
    reference = LogisticRegression(C=0.7, tol=1e-10, max_iter=10_000).fit(x, y, weights)
    assert np.allclose(coef, reference.coef_, atol=1e-4)
    assert intercept == pytest.approx(reference.intercept_[0], abs=1e-4)
    # an offset is a fixed part of every row's logit: adding a constant is the intercept's job
    shifted, moved = _offset_logistic(x, y, np.full(300, 2.0), weights, 0.7)
    assert np.allclose(shifted, coef, atol=1e-4) and moved == pytest.approx(
        intercept - 2.0, abs=1e-4
    )

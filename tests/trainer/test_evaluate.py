"""Evaluation functions agree with scikit-learn and the threshold rule keeps its promise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
)

from trainer.evaluate import (
    choose_threshold,
    classification_report,
    confusion,
    format_table,
    per_source_report,
)


def test_report_matches_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    scores = np.clip(y * 0.4 + rng.random(300) * 0.7, 0, 1)
    report = classification_report(y, scores, 0.5)
    pred = (scores >= 0.5).astype(int)
    assert report["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert report["precision"] == pytest.approx(precision_score(y, pred))
    assert report["recall"] == pytest.approx(recall_score(y, pred))
    assert report["f1"] == pytest.approx(f1_score(y, pred))
    assert report["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    c = report["confusion"]
    assert report["ham_blocked"] == pytest.approx(c["fp"] / (c["fp"] + c["tn"]))
    assert c["tp"] + c["fn"] == report["n_spam"] == int(y.sum())
    assert report["predicted_spam_rate"] == pytest.approx(pred.mean())


def test_threshold_is_inclusive() -> None:
    assert confusion([1], [1]) == {"tn": 0, "fp": 0, "fn": 0, "tp": 1}
    assert classification_report([1, 0], [0.5, 0.49], 0.5)["accuracy"] == 1.0


def test_report_survives_a_single_class() -> None:
    report = classification_report([0, 0, 0], [0.1, 0.2, 0.9], 0.5)
    assert report["ham_blocked"] == pytest.approx(1 / 3)
    assert report["recall"] == 0.0 and report["average_precision"] is None


def test_mismatched_lengths_are_an_error() -> None:
    with pytest.raises(ValueError, match="3 labels but y_pred has 2"):
        confusion([0, 1, 1], [0, 1])


def test_per_source_splits_the_report() -> None:
    y = [0, 1, 0, 1, 1]
    scores = [0.1, 0.9, 0.7, 0.2, 0.8]
    sources = ["sms", "sms", "mail", "mail", "mail"]
    reports = per_source_report(y, scores, sources, 0.5)
    assert list(reports) == ["sms", "mail"]
    assert reports["sms"]["accuracy"] == 1.0
    assert reports["mail"]["confusion"] == {"tn": 0, "fp": 1, "fn": 1, "tp": 1}
    assert reports["sms"]["n"] + reports["mail"]["n"] == 5


@settings(max_examples=200, deadline=None)
@given(
    scores=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=400),
    rate=st.sampled_from([0.0, 0.002, 0.01, 0.1, 0.5]),
)
def test_chosen_threshold_flags_at_most_the_allowed_share(scores: list[float], rate: float) -> None:
    threshold = choose_threshold(scores, rate)
    arr = np.asarray(scores)
    assert 0.0 < threshold < 1.0
    allowed = int(np.floor(rate * arr.size + 1e-9))
    flagged = int(np.sum(arr >= threshold))
    if threshold < 1.0 - 1e-6:  # (a ham scored 1.0 cannot be let through inside (0, 1))
        assert flagged <= allowed
    # and it is not needlessly strict: every score above the (allowed+1)-th highest is flagged
    if allowed < arr.size:
        cut = np.sort(arr)[::-1][allowed]
        above = arr[(arr > cut) & (arr >= 1e-6)]
        assert np.all(above >= threshold)


def test_threshold_for_the_default_rate_on_a_thousand_hams() -> None:
    scores = [0.05] * 990 + [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65]
    threshold = choose_threshold(scores, 0.002)  # 2 of 1000 may be flagged
    assert 0.55 < threshold < 0.6
    assert sum(s >= threshold for s in scores) == 2


def test_threshold_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_ham_blocked"):
        choose_threshold([0.1], 1.0)
    with pytest.raises(ValueError, match="at least one"):
        choose_threshold([], 0.1)


def test_table_has_one_row_per_report() -> None:
    r = classification_report([0, 1, 1], [0.2, 0.9, 0.3], 0.5)
    table = format_table({"model": r, "baseline": r})
    lines = table.splitlines()
    assert len(lines) == 3 and "ham blocked" in lines[0]
    assert lines[1].startswith("model") and "0.6667" in lines[1]

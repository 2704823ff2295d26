"""The shift test's statistics against scipy and a hand computation, and its error paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from trainer.shift import Reference, last_window, reference_from, two_proportion_test


def test_z_squared_and_p_value_are_pearsons_chi_square_without_correction() -> None:
    """The pooled z-test is the 2x2 chi-square test: z² = χ², same p-value (scipy's)."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        n_ref, n_live = (int(v) for v in rng.integers(50, 3000, 2))
        ref_spam = int(rng.integers(1, n_ref))
        live_spam = int(rng.integers(1, n_live))
        test = two_proportion_test(Reference(ref_spam / n_ref, n_ref), live_spam, n_live)
        table = [[ref_spam, n_ref - ref_spam], [live_spam, n_live - live_spam]]
        chi2, p_value, _, _ = chi2_contingency(table, correction=False)
        assert test.z**2 == pytest.approx(chi2, rel=1e-9)
        assert test.p_value == pytest.approx(p_value, rel=1e-7, abs=1e-300)
        assert math.copysign(1, test.z) == math.copysign(1, live_spam / n_live - ref_spam / n_ref)
        assert test.flagged == (p_value < 0.01)


def test_a_hand_computed_case() -> None:
    # pooled (50 + 60) / 200 = 0.55; se = sqrt(0.55 * 0.45 * (1/100 + 1/100)) = 0.0703562
    test = two_proportion_test(Reference(0.5, 100), live_spam=60, live_n=100, alpha=0.2)
    assert test.z == pytest.approx(0.1 / 0.0703562, rel=1e-6)  # 1.42134
    assert test.p_value == pytest.approx(0.155218, rel=1e-4)  # 2 * (1 - Φ(1.42134))
    assert test.flagged  # at alpha 0.2
    assert not two_proportion_test(Reference(0.5, 100), 60, 100, alpha=0.01).flagged
    assert test.as_dict() == {
        "reference_rate": 0.5,
        "reference_n": 100,
        "live_rate": 0.6,
        "live_n": 100,
        "z": test.z,
        "p_value": test.p_value,
        "alpha": 0.2,
        "flagged": True,
    }


def test_a_drop_is_flagged_too_with_a_negative_z() -> None:
    test = two_proportion_test(Reference(0.29, 1000), live_spam=130, live_n=1000)
    assert test.z < -8 and test.flagged


def test_equal_shares_of_nothing_or_everything_cannot_differ() -> None:
    for rate, spam in ((0.0, 0), (1.0, 50)):
        test = two_proportion_test(Reference(rate, 100), live_spam=spam, live_n=50)
        assert (test.z, test.p_value, test.flagged) == (0.0, 1.0, False)
    # one side all ham, the other not: a real difference, a finite z
    assert two_proportion_test(Reference(0.0, 100), 30, 100).flagged


@pytest.mark.parametrize(
    ("reference", "spam", "n", "alpha", "message"),
    [
        (Reference(-0.1, 100), 1, 10, 0.01, "reference rate must be a share"),
        (Reference(1.5, 100), 1, 10, 0.01, "reference rate must be a share"),
        (Reference(True, 100), 1, 10, 0.01, "reference rate must be a share"),  # type: ignore[arg-type]
        (Reference(0.1, 0), 1, 10, 0.01, "reference n must be a whole number of at least 1"),
        (Reference(0.1, 10.5), 1, 10, 0.01, "reference n must be a whole number"),  # type: ignore[arg-type]
        (Reference(0.1, 100), 1, 0, 0.01, "live n must be a whole number of at least 1"),
        (Reference(0.1, 100), -1, 10, 0.01, "live spam must be a whole number of at least 0"),
        (Reference(0.1, 100), 11, 10, 0.01, r"live spam \(11\) cannot exceed live n \(10\)"),
        (Reference(0.1, 100), 1, 10, 0.0, "alpha must be between 0 and 1"),
        (Reference(0.1, 100), 1, 10, 1.0, "alpha must be between 0 and 1"),
    ],
)
def test_bad_arguments_are_refused_by_name(reference, spam, n, alpha, message) -> None:
    with pytest.raises(ValueError, match=message):
        two_proportion_test(reference, spam, n, alpha)


def test_the_window_takes_whole_buckets_from_the_newest() -> None:
    buckets = [(100, 90), (10, 1), (5, 0), (3, 3)]
    assert last_window(buckets, 3) == (3, 3)
    assert last_window(buckets, 4) == (3, 8)  # the newest two
    assert last_window(buckets, 18) == (4, 18)
    assert last_window(buckets, 19) == (94, 118)  # the oldest bucket joins whole
    assert last_window(buckets, 118) == (94, 118)
    assert last_window(buckets, 119) is None
    assert last_window([], 1) is None
    with pytest.raises(ValueError, match="at least 1 message"):
        last_window(buckets, 0)


def test_the_reference_comes_from_the_summary_else_the_holdout_report() -> None:
    summary = {"predicted_spam_rate": 0.25, "holdout_messages": 400}
    metrics = {"holdout": {"n": 10, "predicted_spam_rate": 0.5}}
    assert reference_from(summary, metrics) == Reference(0.25, 400)
    assert reference_from({"mcc": 0.9}, metrics) == Reference(0.5, 10)
    older = {"holdout": {"n": 8, "confusion": {"tp": 1, "fp": 1, "tn": 5, "fn": 1}}}
    assert reference_from({}, older) == Reference(0.25, 8)
    for broken in (
        {"predicted_spam_rate": 1.5, "holdout_messages": 400},
        {"predicted_spam_rate": 0.2, "holdout_messages": 0},
        {"predicted_spam_rate": "0.2", "holdout_messages": 400},
        {"predicted_spam_rate": 0.2, "holdout_messages": True},
        {"predicted_spam_rate": 0.2},
    ):
        assert reference_from(broken) is None, broken
    for metrics_json in ({}, {"holdout": []}, {"holdout": {"n": 0, "confusion": {}}}):
        assert reference_from({}, metrics_json) is None, metrics_json

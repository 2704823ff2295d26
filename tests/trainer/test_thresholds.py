"""The ham-blocked rule no longer lets a small source pin the threshold (issue #14)."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluate import choose_threshold
from trainer.thresholds import min_source_ham, strictest_threshold


def _case(n_new_ham: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4,000 corpus ham far below 0.3 and a new source whose ham reach into spam scores."""
    rng = np.random.default_rng(seed)
    corpus = rng.uniform(0.0, 0.3, 4000)
    new = rng.beta(1.0, 6.0, n_new_ham)  # most low, a long tail towards 1
    scores = np.concatenate([corpus, new])
    y = np.zeros(scores.size, dtype=int)
    sources = np.array(["corpus"] * 4000 + ["new"] * n_new_ham, dtype=object)
    return scores, y, sources


def test_a_source_is_held_to_the_limit_only_once_its_ham_can_show_it() -> None:
    assert min_source_ham(0.002) == 500  # 1 blocked ham allowed
    assert min_source_ham(0.01) == 200 and min_source_ham(0.0) == 200


@pytest.mark.parametrize("n_new_ham", [199, 200, 350, 499])
def test_a_few_hundred_ham_no_longer_set_the_threshold_above_all_of_them(n_new_ham) -> None:
    scores, y, sources = _case(n_new_ham)
    threshold, per_source = strictest_threshold(scores, y, sources, 0.002)
    new = scores[sources == "new"]
    assert "new" not in per_source
    assert threshold == choose_threshold(scores, 0.002)  # the pooled limit, as below 200
    # the old rule ("none of them") would have put it above the highest new ham
    assert threshold < new.max() < choose_threshold(new, 0.002)


def test_from_500_ham_on_a_source_has_a_limit_of_its_own() -> None:
    scores, y, sources = _case(600)
    threshold, per_source = strictest_threshold(scores, y, sources, 0.002)
    new = scores[sources == "new"]
    assert set(per_source) == {"corpus", "new"}
    assert np.sum(new >= threshold) <= 1  # floor(0.002 * 600) = 1

"""The threshold rule: at most ``max_ham_blocked`` of the ham, pooled and per large source.

Shared by the one-classifier protocol and the mixture of experts, which applies it once
per medium (to that medium's messages) and once more to the published mixture's scores.

A source is held to the limit on its own only when its ham can measure it: at least
``MIN_SOURCE_HAM`` ham *and* at least one blocked ham allowed (``rate * n_ham >= 1``, 500
ham at 0.2 %). Below that, "at most 0.2 %" of n ham means "none of them", which is a
stricter limit than asked, set by the single most spam-like ham: its threshold sits
above the highest of n scores, which climbs as the source grows, so every new report
of a poorly known source would raise the threshold and cut recall (issue #14). Such a
source's ham still count in the pooled limit.
"""

from __future__ import annotations

import math

import numpy as np

from trainer.evaluate import choose_threshold

__all__ = [
    "MIN_SOURCE_HAM",
    "min_source_ham",
    "strictest_threshold",
]

#: A source needs at least this many ham messages in the training part for a limit of its own.
MIN_SOURCE_HAM = 200


def min_source_ham(max_ham_blocked: float) -> int:
    """How many ham a source needs before it is held to ``max_ham_blocked`` on its own.

    >>> min_source_ham(0.002), min_source_ham(0.01), min_source_ham(0.0)
    (500, 200, 200)
    """
    if max_ham_blocked <= 0.0:  # "block none" is measurable on any number of ham
        return MIN_SOURCE_HAM
    return max(MIN_SOURCE_HAM, math.ceil(1.0 / max_ham_blocked - 1e-9))


def strictest_threshold(
    scores: np.ndarray, y: np.ndarray, sources: np.ndarray, max_ham_blocked: float
) -> tuple[float, dict[str, float]]:
    """The strictest of the pooled threshold and those of each source with enough ham.

    Mixing in a corpus where ham looks different then cannot push another corpus's ham
    over the limit. Returns the threshold and the per-source thresholds it considered.
    """
    ham = y == 0
    need = min_source_ham(max_ham_blocked)
    source_ham = {str(name): ham & (sources == name) for name in dict.fromkeys(sources.tolist())}
    per_source = {
        name: choose_threshold(scores[mask], max_ham_blocked)
        for name, mask in source_ham.items()
        if np.sum(mask) >= need
    }
    pooled = choose_threshold(scores[ham], max_ham_blocked)
    return max([pooled, *per_source.values()]), per_source

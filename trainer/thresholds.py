"""The threshold rule: at most ``max_ham_blocked`` of the ham, pooled and per large source.

Shared by the one-classifier protocol and the mixture of experts, which applies it once
per medium (to that medium's messages) and once more to the published mixture's scores.
"""

from __future__ import annotations

import numpy as np

from trainer.evaluate import choose_threshold

__all__ = ["MIN_SOURCE_HAM", "strictest_threshold"]

#: A source needs this many ham messages in the training part to get its own threshold.
MIN_SOURCE_HAM = 200


def strictest_threshold(
    scores: np.ndarray, y: np.ndarray, sources: np.ndarray, max_ham_blocked: float
) -> tuple[float, dict[str, float]]:
    """The strictest of the pooled threshold and those of each source with enough ham.

    Mixing in a corpus where ham looks different then cannot push another corpus's ham
    over the limit. Returns the threshold and the per-source thresholds it considered.
    """
    ham = y == 0
    source_ham = {str(name): ham & (sources == name) for name in dict.fromkeys(sources.tolist())}
    per_source = {
        name: choose_threshold(scores[mask], max_ham_blocked)
        for name, mask in source_ham.items()
        if np.sum(mask) >= MIN_SOURCE_HAM
    }
    pooled = choose_threshold(scores[ham], max_ham_blocked)
    return max([pooled, *per_source.values()]), per_source

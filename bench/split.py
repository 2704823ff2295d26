"""The trainer's documented evaluation split, reused so every comparison is on the same holdout.

Deduplicate, then a stratified 80/20 holdout with the trainer's fixed seed: calling the
trainer's own functions (rather than re-implementing them) is what makes "same split"
true by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Split", "holdout"]


@dataclass(frozen=True)
class Split:
    """Texts, labels (1 = spam, 0 = ham) and sources of both sides of the split."""

    train_texts: list[str]
    train_y: list[int]
    test_texts: list[str]
    test_y: list[int]
    test_sources: list[str]


def holdout(messages: Sequence[Any]) -> Split:
    """The trainer's split of ``messages`` (``trainer.data.Message`` objects)."""
    from trainer.model import LABELS
    from trainer.protocol import deduplicate, holdout_split

    kept, _stats = deduplicate(messages)
    train_idx, test_idx = holdout_split([m.label for m in kept], [m.source for m in kept])
    return Split(
        train_texts=[kept[i].text for i in train_idx],
        train_y=[LABELS[kept[i].label] for i in train_idx],
        test_texts=[kept[i].text for i in test_idx],
        test_y=[LABELS[kept[i].label] for i in test_idx],
        test_sources=[kept[i].source for i in test_idx],
    )

"""The evaluation protocol's data steps: deduplicate, then split. Pure and deterministic.

1. Duplicates are removed *before* splitting, or the same text lands on both sides and
   the holdout flatters the model. Two messages are duplicates when their texts are equal
   after Unicode case-folding and collapsing every run of whitespace to one space. The
   first copy is kept. A text seen with both labels is dropped altogether (it would
   teach nothing and score as an error either way); the count is reported.
2. A stratified holdout (20 % by default, fixed seed) is set aside, each source on its own
   (stratified by label), so every source keeps its share of spam and ham on both sides
   and its holdout does not change when other sources join the run, however small.
3. Everything else (model selection, threshold) uses only the training part.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from trainer.data import Message

__all__ = ["HOLDOUT_FRACTION", "SEED", "deduplicate", "holdout_split", "normalize_text"]

HOLDOUT_FRACTION = 0.2
SEED = 42


def normalize_text(text: str) -> str:
    """The key under which two texts count as duplicates.

    >>> normalize_text("  Free  ENTRY\\n now ") == normalize_text("free entry now")
    True
    """
    return " ".join(text.split()).casefold()


def deduplicate(messages: Sequence[Message]) -> tuple[list[Message], dict[str, int]]:
    """Keep the first of each group of duplicate texts; drop texts seen with both labels.

    Returns the kept messages (in input order) and counts: ``duplicates`` (extra copies
    removed) and ``conflicting`` (messages dropped because their text had both labels).

    >>> a, b = Message("Hi", "ham", "s", "s:1"), Message("hi ", "ham", "s", "s:2")
    >>> c, d = Message("x", "spam", "s", "s:3"), Message("X", "ham", "s", "s:4")
    >>> kept, stats = deduplicate([a, b, c, d])
    >>> [m.origin for m in kept], stats
    (['s:1'], {'duplicates': 1, 'conflicting': 2})
    """
    labels_by_key: dict[str, set[str]] = {}
    for message in messages:
        labels_by_key.setdefault(normalize_text(message.text), set()).add(message.label)
    seen: set[str] = set()
    kept: list[Message] = []
    duplicates = conflicting = 0
    for message in messages:
        key = normalize_text(message.text)
        if len(labels_by_key[key]) > 1:
            conflicting += 1
        elif key in seen:
            duplicates += 1
        else:
            seen.add(key)
            kept.append(message)
    return kept, {"duplicates": duplicates, "conflicting": conflicting}


def holdout_split(
    labels: Sequence[str],
    sources: Sequence[str],
    test_size: float = HOLDOUT_FRACTION,
    seed: int = SEED,
    never_held_out: Collection[str] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training part and the holdout: each source split on its own.

    Every source gets its own stratified-by-label split with the same seed, so a source's
    holdout is the same messages whichever other sources are trained with it: the SMS
    figures of an SMS-only run and of an SMS + email run are measured on one holdout.
    A source with a label seen only once (a few reports, say) is split without
    stratifying, and a single message goes to training, so no other source's split moves.
    The sources in ``never_held_out`` (accepted reports) go to training whole.

    >>> train, test = holdout_split(["spam", "ham"] * 10, ["a"] * 20)
    >>> len(train), len(test), sorted(set(train) | set(test)) == list(range(20))
    (16, 4, True)
    >>> labels, sources = ["spam", "ham"] * 10, ["a"] * 16 + ["r"] * 4
    >>> train, test = holdout_split(labels, sources, never_held_out=["r"])
    >>> {16, 17, 18, 19} <= set(train.tolist()), len(test)
    (True, 4)
    """
    names = np.asarray(sources, dtype=object)
    label_array = np.asarray(labels, dtype=object)
    if names.size != label_array.size:
        raise ValueError(f"{label_array.size} labels but {names.size} sources")
    parts = []
    for name in dict.fromkeys(names.tolist()):
        index = np.flatnonzero(names == name)
        if index.size < 2 or name in never_held_out:
            parts.append((index, index[:0]))
            continue
        counts = Counter(label_array[index].tolist())
        stratify = label_array[index] if min(counts.values()) >= 2 else None
        parts.append(
            train_test_split(index, test_size=test_size, random_state=seed, stratify=stratify)
        )
    train = np.concatenate([part[0] for part in parts])
    test = np.concatenate([part[1] for part in parts])
    return np.sort(train), np.sort(test)

"""The adaptation curve's pieces: which messages of a new place can be reported, which k
of them are, and how a model scores on the rest. Pure (messages and arrays in and out).

Only the benchmarks use them: :mod:`bench.adaptation` runs the curve offline with
``trainer.train.train``, and :mod:`bench.adaptation_loop` through the real loop (reports
POSTed to the API, accepted with the CLI, ``train --feedback``, scored through the API):
pick with :func:`pick_reports`, send :func:`as_reports`'s texts and labels, score the
rest with :func:`score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from chalicelib.feedback_format import Report, new_report
from chalicelib.settings import Settings

from trainer.data import Message
from trainer.evaluate import classification_report
from trainer.model import LABELS
from trainer.protocol import deduplicate, normalize_text

__all__ = [
    "MAX_REPORT_CHARS",
    "STRATEGIES",
    "as_reports",
    "pick_reports",
    "reportable",
    "score",
    "unpicked",
]

#: The API refuses longer texts (its MAX_TEXT_CHARS default), so nobody can report them.
MAX_REPORT_CHARS = Settings.max_text_chars
#: How the k reports are chosen: stratified at random, or among the current model's errors.
STRATEGIES = ("random", "wrong")


def reportable(
    new: Sequence[Message], corpus: Sequence[Message], max_chars: int = MAX_REPORT_CHARS
) -> list[Message]:
    """The new place's messages that can be reported and scored.

    Deduplicated with the trainer's normalisation (so a report and a scored message are
    never the same text), without texts the API would refuse, and without texts the
    corpus already holds (they are not new).

    >>> corpus = [Message("hi", "ham", "c", "c:1")]
    >>> new = [Message("Hi", "ham", "n", "n:1"), Message("x" * 9, "spam", "n", "n:2"),
    ...        Message("ok", "ham", "n", "n:3"), Message("OK ", "ham", "n", "n:4")]
    >>> [m.origin for m in reportable(new, corpus, max_chars=8)]
    ['n:3']
    """
    known = {normalize_text(m.text) for m in corpus}
    kept, _ = deduplicate(new)
    return [m for m in kept if len(m.text) <= max_chars and normalize_text(m.text) not in known]


def pick_reports(
    pool: Sequence[Message],
    k: int,
    seed: int,
    strategy: str,
    wrong: Sequence[bool] | None = None,
) -> list[int]:
    """Indices (into ``pool``) of the ``k`` messages people report; nested in ``k``.

    ``random``: stratified by label (each label's share of the pool, rounded), at random
    with ``seed``. ``wrong``: at random among the messages the current model gets wrong
    (``wrong[i]``); fewer than ``k`` when it gets fewer wrong. For one seed, the picks for
    a smaller ``k`` are among those for a larger one, as if the same people kept reporting.

    >>> pool = [Message(str(i), "spam" if i < 3 else "ham", "n", str(i)) for i in range(10)]
    >>> small, large = pick_reports(pool, 4, 0, "random"), pick_reports(pool, 8, 0, "random")
    >>> set(small) <= set(large), sum(pool[i].label == "spam" for i in large)
    (True, 2)
    >>> pick_reports(pool, 5, 0, "wrong", wrong=[i % 4 == 0 for i in range(10)])
    [8, 0, 4]
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if not 0 <= k <= len(pool):
        raise ValueError(f"k must be between 0 and {len(pool)}, got {k}")
    rng = np.random.default_rng(seed)
    if strategy == "wrong":
        if wrong is None or len(wrong) != len(pool):
            raise ValueError("the wrong strategy needs one wrong flag per pooled message")
        candidates = np.flatnonzero(np.asarray(wrong, dtype=bool))
        return [int(i) for i in rng.permutation(candidates)[:k]]
    labels = np.array([m.label for m in pool], dtype=object)
    spam = rng.permutation(np.flatnonzero(labels == "spam"))
    ham = rng.permutation(np.flatnonzero(labels == "ham"))
    n_spam = min(spam.size, round(k * spam.size / len(pool)))
    return [int(i) for i in (*spam[:n_spam], *ham[: k - n_spam])]


def unpicked(pool: Sequence[Message], picked: Sequence[int]) -> list[Message]:
    """The pool without the picked messages: what the curve scores."""
    chosen = set(picked)
    return [m for i, m in enumerate(pool) if i not in chosen]


def as_reports(pool: Sequence[Message], picked: Sequence[int]) -> list[Report]:
    """The picked messages as accepted-report stand-ins, with stable made-up ids."""
    return [
        new_report(
            pool[i].text,
            pool[i].label,
            report_id=f"20260101T000000Z-{i:016x}",
            received_at="2026-01-01T00:00:00Z",
        )
        for i in picked
    ]


def score(
    vectorizer: Any, classifier: Any, threshold: float, messages: Sequence[Message]
) -> dict[str, Any]:
    """``trainer.evaluate.classification_report`` of a fitted model on ``messages``."""
    y = np.array([LABELS[m.label] for m in messages], dtype=int)
    spam = classifier.predict_proba(vectorizer.transform([m.text for m in messages]))[:, 1]
    return classification_report(y, spam, threshold)

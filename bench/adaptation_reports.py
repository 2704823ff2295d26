"""The adaptation curve's pieces: which messages of a new place can be reported, reports
made of them, and how a model scores. Pure (messages and arrays in and out).

Only the benchmarks use them: :mod:`bench.adaptation` (which defines the halves and the
rounds) runs the curve offline with ``trainer.train.train``, and
:mod:`bench.adaptation_loop` through the real loop (reports POSTed to the API, accepted
with the CLI, ``train --feedback``, scored through the API).
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
    "as_reports",
    "reportable",
    "score",
]

#: The API refuses longer texts (its MAX_TEXT_CHARS default), so nobody can report them.
MAX_REPORT_CHARS = Settings.max_text_chars


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

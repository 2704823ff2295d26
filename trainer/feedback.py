"""Accepted feedback reports as training data: a source of their own, merged with the corpus.

A report is a person's reviewed claim that a text is spam or ham (``chalicelib.feedback_format
.Report``). Reports join the training data as the source ``feedback`` with the medium
``feedback``: they come from wherever the API is used (comments, a mailbox, text messages),
which need not be any corpus's medium, and a report carries no medium. Giving them one of
their own lets the mixture of experts (``trainer.experts``) fit an expert for them and a
gate that recognises their look from the text, so the corpus's own experts are not
retrained on a few hundred messages from elsewhere.

Merging follows the trainer's duplicate normalisation (``trainer.protocol.normalize_text``):

- a report whose text the corpus holds with the same label (and only that label) adds
  nothing and is left out, so the corpus's sources and their holdouts stay as they are;
- a report whose text the corpus holds with another label wins: a person looked at it.
  Every corpus copy of the text is dropped and the report is trained on; it is counted
  as ``overruled``;
- repeated reports keep the first (oldest id); reports that give one text both labels are
  all left out (``conflicting``), as the corpus's own duplicates are.

Pure: reports in, messages and counts out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.feedback_format import Report

from trainer.data import Message
from trainer.protocol import deduplicate, normalize_text

__all__ = [
    "FEEDBACK_MEDIUM",
    "FEEDBACK_SOURCE",
    "FeedbackMerge",
    "feedback_digest",
    "merge_feedback",
    "report_id",
    "reports_to_messages",
]

#: The source name reports are trained and reported under.
FEEDBACK_SOURCE = "feedback"
#: The medium reports get (see the module docstring for why not ``sms`` or ``email``).
FEEDBACK_MEDIUM = "feedback"
_ORIGIN_PREFIX = "feedback:"


@dataclass(frozen=True)
class FeedbackMerge:
    """What happened to the reports: counts, and the ids of those that joined the data."""

    reports: int
    used: tuple[str, ...]
    overruled: int
    already_in_corpus: int
    duplicates: int
    conflicting: int
    digest: str

    def as_dict(self) -> dict[str, object]:
        """The ``metrics.json`` record (``data.feedback``)."""
        return {
            "reports": self.reports,
            "used": len(self.used),
            "overruled": self.overruled,
            "already_in_corpus": self.already_in_corpus,
            "duplicates": self.duplicates,
            "conflicting": self.conflicting,
            "digest": self.digest,
        }


def report_id(message: Message) -> str | None:
    """The report id behind a message that came from feedback, else ``None``."""
    if message.source == FEEDBACK_SOURCE and message.origin.startswith(_ORIGIN_PREFIX):
        return message.origin[len(_ORIGIN_PREFIX) :]
    return None


def reports_to_messages(reports: Sequence[Report]) -> list[Message]:
    """One message per report, in the given order, under the feedback source and medium."""
    return [
        Message(
            text=r.text,
            label=r.label,
            source=FEEDBACK_SOURCE,
            origin=f"{_ORIGIN_PREFIX}{r.id}",
            medium=FEEDBACK_MEDIUM,
        )
        for r in reports
    ]


def feedback_digest(reports: Sequence[Report]) -> str:
    """sha256 of the reports' ids, labels and texts, order-free: names a set of reports.

    Anyone holding the store can recompute it from ``load_accepted`` and check which
    reports a model was trained with.

    >>> from chalicelib.feedback_format import new_report
    >>> a = new_report("WIN", "spam", report_id="20260101T000000Z-0000000000000001",
    ...                received_at="2026-01-01T00:00:00Z")
    >>> feedback_digest([a]) == feedback_digest([a, a]) != feedback_digest([])
    True
    """
    lines = sorted(
        {f"{r.id}\t{r.label}\t{hashlib.sha256(r.text.encode()).hexdigest()}" for r in reports}
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def merge_feedback(
    corpus: Sequence[Message], reports: Sequence[Report]
) -> tuple[list[Message], FeedbackMerge]:
    """The corpus with the reports merged in (rules in the module docstring).

    Returns the corpus messages that remain (in order) followed by the reports that join
    (ordered by a hash of their text, so their split does not depend on their ids), and what
    happened to the reports.

    >>> from chalicelib.feedback_format import new_report
    >>> def rep(n, text, label):
    ...     return new_report(text, label, report_id=f"20260101T000000Z-{n:016x}",
    ...                       received_at="2026-01-01T00:00:00Z")
    >>> corpus = [Message("Call me", "ham", "sms", "sms:1"), Message("WIN", "spam", "sms", "sms:2")]
    >>> merged, info = merge_feedback(corpus, [rep(1, "call  ME", "spam"), rep(2, "win", "spam")])
    >>> [(m.source, m.label, m.text) for m in merged], info.overruled, info.already_in_corpus
    ([('sms', 'spam', 'WIN'), ('feedback', 'spam', 'call  ME')], 1, 1)
    """
    ordered = sorted(reports, key=lambda r: r.id)
    kept, stats = deduplicate(reports_to_messages(ordered))
    corpus_labels: dict[str, set[str]] = {}
    for message in corpus:
        corpus_labels.setdefault(normalize_text(message.text), set()).add(message.label)
    joining: list[Message] = []
    overruled_keys: set[str] = set()
    already = 0
    for message in kept:
        key = normalize_text(message.text)
        labels = corpus_labels.get(key)
        if labels == {message.label}:
            already += 1
            continue
        if labels:
            overruled_keys.add(key)
        joining.append(message)
    # in an order of their own content, not of their ids (random, made at the API): the same
    # reports are split into training and holdout the same way whenever they are sent
    joining.sort(key=lambda m: hashlib.sha256(normalize_text(m.text).encode()).hexdigest())
    remaining = [m for m in corpus if normalize_text(m.text) not in overruled_keys]
    used = tuple(sorted(i for i in (report_id(m) for m in joining) if i is not None))
    info = FeedbackMerge(
        reports=len(reports),
        used=used,
        overruled=len(overruled_keys),
        already_in_corpus=already,
        duplicates=stats["duplicates"],
        conflicting=stats["conflicting"],
        digest=feedback_digest(reports),
    )
    return remaining + joining, info

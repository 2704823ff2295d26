"""People's labels as training data: accepted reports and labelled captures, merged with the corpus.

Two kinds of text reach training with a person's label:

- an accepted *report* (``chalicelib.feedback_format.Report``): someone said a verdict was
  wrong. Reports are the model's mistakes, not a sample of the place they come from;
- a labelled *capture* (``chalicelib.capture_format.CaptureRecord``): a message the API
  kept from its traffic, labelled blind. The ``random`` stratum is a uniform sample of the
  place; the ``uncertain`` one was kept because the model was unsure of it.

They join the training data as sources of their own: ``feedback`` for reports, and
``capture-random`` and ``capture-uncertain`` for captures, with a medium that is no
corpus's: they come from wherever the API is used (comments, a mailbox, text messages),
which need not be any corpus's medium, and none carries a medium. Giving them one of their
own lets the mixture of experts (``trainer.experts``) fit an expert for them and a gate
that recognises their look from the text, so the corpus's own experts are not retrained
on a few hundred messages from elsewhere. Which medium captures get is fixed by
``trainer.train`` (``CAPTURE_MEDIUM``; trainer/README.md, "Learning from captures").

Merging follows the trainer's duplicate normalisation (``trainer.protocol.normalize_text``),
across reports and captures alike:

- a text the corpus holds with the same label (and only that label) adds nothing and is
  left out, so the corpus's sources and their holdouts stay as they are;
- a text the corpus holds with another label wins: a person looked at it. Every corpus
  copy of the text is dropped and the person's label is trained on; it is counted as
  ``overruled``;
- a text given several times keeps the first (oldest id; report and record ids share one
  time-ordered form); texts given both labels are all left out (``conflicting``), as the
  corpus's own duplicates are.

Pure: reports and records in, messages and counts out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.capture_format import CaptureRecord
from chalicelib.feedback_format import Report

from trainer.data import Message
from trainer.protocol import deduplicate, normalize_text

__all__ = [
    "CAPTURE_RANDOM_SOURCE",
    "CAPTURE_SOURCES",
    "CAPTURE_UNCERTAIN_SOURCE",
    "FEEDBACK_MEDIUM",
    "FEEDBACK_SOURCE",
    "PEOPLE_SOURCES",
    "FeedbackMerge",
    "feedback_digest",
    "labelled_id",
    "merge_feedback",
    "merge_labelled",
    "reports_to_messages",
]

#: The source name reports are trained and reported under.
FEEDBACK_SOURCE = "feedback"
#: The medium reports get (see the module docstring for why not ``sms`` or ``email``).
FEEDBACK_MEDIUM = "feedback"
#: The sources labelled captures are trained under, by stratum.
CAPTURE_RANDOM_SOURCE = "capture-random"
CAPTURE_UNCERTAIN_SOURCE = "capture-uncertain"
CAPTURE_SOURCES = {"random": CAPTURE_RANDOM_SOURCE, "uncertain": CAPTURE_UNCERTAIN_SOURCE}
#: Every source of people's labels: learnt whole, never held out.
PEOPLE_SOURCES = (FEEDBACK_SOURCE, CAPTURE_RANDOM_SOURCE, CAPTURE_UNCERTAIN_SOURCE)
_ORIGIN_PREFIX = {"feedback": "feedback:", "capture": "capture:"}
_ORIGIN_KIND = {FEEDBACK_SOURCE: "feedback", **dict.fromkeys(CAPTURE_SOURCES.values(), "capture")}


class _Labelled(Protocol):
    id: str
    text: str

    @property
    def label(self) -> str | None: ...


@dataclass(frozen=True)
class FeedbackMerge:
    """What happened to one kind's texts: counts, and the ids of those that joined the data.

    ``reports`` counts what was given (reports, or labelled records for captures).
    """

    reports: int
    used: tuple[str, ...]
    overruled: int
    already_in_corpus: int
    duplicates: int
    conflicting: int
    digest: str

    def as_dict(self) -> dict[str, object]:
        """The ``metrics.json`` record (``data.feedback``; ``data.capture`` renames the count)."""
        return {
            "reports": self.reports,
            "used": len(self.used),
            "overruled": self.overruled,
            "already_in_corpus": self.already_in_corpus,
            "duplicates": self.duplicates,
            "conflicting": self.conflicting,
            "digest": self.digest,
        }


def labelled_id(message: Message) -> tuple[str, str] | None:
    """``(kind, id)`` of the report or record behind a message, else ``None``.

    >>> labelled_id(Message("x", "ham", "capture-random", "capture:20260101T000000Z-1", "c"))
    ('capture', '20260101T000000Z-1')
    """
    for kind, prefix in _ORIGIN_PREFIX.items():
        if message.origin.startswith(prefix) and message.source in PEOPLE_SOURCES:
            return kind, message.origin[len(prefix) :]
    return None


def reports_to_messages(reports: Sequence[Report]) -> list[Message]:
    """One message per report, in the given order, under the feedback source and medium."""
    return [
        Message(
            text=r.text,
            label=r.label,
            source=FEEDBACK_SOURCE,
            origin=f"{_ORIGIN_PREFIX['feedback']}{r.id}",
            medium=FEEDBACK_MEDIUM,
        )
        for r in reports
    ]


def _captures_to_messages(records: Sequence[CaptureRecord], medium: str) -> list[Message]:
    for record in records:
        if record.label is None:
            raise ValueError(f"record {record.id} is not labelled")
    return [
        Message(
            text=r.text,
            label=str(r.label),
            source=CAPTURE_SOURCES[r.stratum],
            origin=f"{_ORIGIN_PREFIX['capture']}{r.id}",
            medium=medium,
        )
        for r in records
    ]


def feedback_digest(items: Sequence[_Labelled]) -> str:
    """sha256 of the items' ids, labels and texts, order-free: names a set of labelled texts.

    Reports and labelled records alike. Anyone holding the store can recompute it
    (``load_accepted``, ``load_labelled``) and check which texts a model was trained with.

    >>> from chalicelib.feedback_format import new_report
    >>> a = new_report("WIN", "spam", report_id="20260101T000000Z-0000000000000001",
    ...                received_at="2026-01-01T00:00:00Z")
    >>> feedback_digest([a]) == feedback_digest([a, a]) != feedback_digest([])
    True
    """
    lines = sorted(
        {f"{r.id}\t{r.label}\t{hashlib.sha256(r.text.encode()).hexdigest()}" for r in items}
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def merge_labelled(
    corpus: Sequence[Message],
    reports: Sequence[Report] = (),
    captures: Sequence[CaptureRecord] = (),
    capture_medium: str = FEEDBACK_MEDIUM,
) -> tuple[list[Message], dict[str, FeedbackMerge]]:
    """The corpus with reports and labelled captures merged in (rules in the module docstring).

    Returns the corpus messages that remain (in order) followed by the texts that join
    (ordered by a hash of their text, so their split does not depend on their ids), and
    what happened to each kind given (``feedback``, ``capture``).

    >>> from chalicelib.feedback_format import new_report
    >>> def rep(n, text, label):
    ...     return new_report(text, label, report_id=f"20260101T000000Z-{n:016x}",
    ...                       received_at="2026-01-01T00:00:00Z")
    >>> corpus = [Message("Call me", "ham", "sms", "sms:1"), Message("WIN", "spam", "sms", "sms:2")]
    >>> merged, info = merge_labelled(corpus, [rep(1, "call  ME", "spam"), rep(2, "win", "spam")])
    >>> [(m.source, m.label, m.text) for m in merged]
    [('sms', 'spam', 'WIN'), ('feedback', 'spam', 'call  ME')]
    >>> info["feedback"].overruled, info["feedback"].already_in_corpus, list(info)
    (1, 1, ['feedback'])
    """
    given: dict[str, list[Any]] = {}
    if reports:
        given["feedback"] = list(reports)
    if captures:
        given["capture"] = list(captures)
    people = [
        *reports_to_messages(sorted(reports, key=lambda r: r.id)),
        *_captures_to_messages(sorted(captures, key=lambda r: r.id), capture_medium),
    ]
    # the oldest id first, whichever kind it is: one time-ordered form for both
    people.sort(key=lambda m: (labelled_id(m) or ("", ""))[1])
    kept, _ = deduplicate(people)
    kept_origins = {m.origin for m in kept}
    corpus_labels: dict[str, set[str]] = {}
    for message in corpus:
        corpus_labels.setdefault(normalize_text(message.text), set()).add(message.label)
    people_labels: dict[str, set[str]] = {}
    for message in people:
        people_labels.setdefault(normalize_text(message.text), set()).add(message.label)
    joining: list[Message] = []
    overruled_keys: set[str] = set()
    counts = {kind: dict.fromkeys(("overruled", "already", "dup", "conflict"), 0) for kind in given}
    for message in people:
        kind, key = _ORIGIN_KIND[message.source], normalize_text(message.text)
        if len(people_labels[key]) > 1:
            counts[kind]["conflict"] += 1
        elif message.origin not in kept_origins:
            counts[kind]["dup"] += 1
        elif corpus_labels.get(key) == {message.label}:
            counts[kind]["already"] += 1
        else:
            if corpus_labels.get(key):
                overruled_keys.add(key)
                counts[kind]["overruled"] += 1
            joining.append(message)
    # in an order of their own content, not of their ids (random, made at the API): the same
    # texts are split into training and holdout the same way whenever they are sent
    joining.sort(key=lambda m: hashlib.sha256(normalize_text(m.text).encode()).hexdigest())
    remaining = [m for m in corpus if normalize_text(m.text) not in overruled_keys]
    info = {
        kind: FeedbackMerge(
            reports=len(items),
            used=tuple(sorted(i for k, i in map(labelled_id, joining) if k == kind)),
            overruled=counts[kind]["overruled"],
            already_in_corpus=counts[kind]["already"],
            duplicates=counts[kind]["dup"],
            conflicting=counts[kind]["conflict"],
            digest=feedback_digest(items),
        )
        for kind, items in given.items()
    }
    return remaining + joining, info


def merge_feedback(
    corpus: Sequence[Message], reports: Sequence[Report]
) -> tuple[list[Message], FeedbackMerge]:
    """The corpus with the reports merged in: :func:`merge_labelled` with reports only."""
    merged, info = merge_labelled(corpus, reports)
    return merged, info["feedback"]

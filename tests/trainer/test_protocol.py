"""Deduplication before the split, and a deterministic, stratified, disjoint split."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from trainer.data import Message
from trainer.protocol import deduplicate, holdout_split, normalize_text


def _m(text: str, label: str = "ham", source: str = "s", origin: str = "") -> Message:
    return Message(text=text, label=label, source=source, origin=origin or text)


def test_duplicates_differ_only_in_case_and_whitespace() -> None:
    assert normalize_text("Free\tENTRY  now\n") == normalize_text(" free entry now")
    assert normalize_text("free entry now!") != normalize_text("free entry now")


def test_deduplicate_keeps_the_first_copy_in_order() -> None:
    messages = [_m("a", origin="1"), _m("b", origin="2"), _m(" A ", origin="3"), _m("c")]
    kept, stats = deduplicate(messages)
    assert [m.origin for m in kept] == ["1", "2", "c"]
    assert stats == {"duplicates": 1, "conflicting": 0}


def test_texts_with_both_labels_are_dropped_and_counted() -> None:
    messages = [_m("x", "spam"), _m("x", "ham"), _m("X", "spam"), _m("y", "spam")]
    kept, stats = deduplicate(messages)
    assert [m.text for m in kept] == ["y"]
    assert stats == {"duplicates": 0, "conflicting": 3}


def test_sms_collection_has_the_documented_duplicates(sms_collection_path) -> None:
    from trainer.data import load_sms_collection

    messages = load_sms_collection(sms_collection_path)
    exact = len(messages) - len({(m.label, m.text) for m in messages})
    kept, stats = deduplicate(messages)
    assert exact == 403  # SOURCE.md: 5,574 lines, 5,171 distinct
    assert stats["duplicates"] >= exact  # case/whitespace variants go too
    assert len({normalize_text(m.text) for m in kept}) == len(kept)


def _labels_sources(n_spam: int, n_ham: int, sources: tuple[str, ...] = ("a",)):
    labels = (["spam"] * n_spam + ["ham"] * n_ham) * len(sources)
    names = [s for s in sources for _ in range(n_spam + n_ham)]
    return labels, names


def test_split_is_deterministic_disjoint_and_complete() -> None:
    labels, sources = _labels_sources(30, 170)
    train1, test1 = holdout_split(labels, sources, seed=7)
    train2, test2 = holdout_split(labels, sources, seed=7)
    assert np.array_equal(train1, train2) and np.array_equal(test1, test2)
    assert not set(train1) & set(test1)
    assert sorted([*train1, *test1]) == list(range(len(labels)))
    assert len(test1) == 40
    _, other = holdout_split(labels, sources, seed=8)
    assert not np.array_equal(test1, other)


def test_split_is_stratified_by_label_and_source() -> None:
    labels, sources = _labels_sources(20, 80, ("sms", "mail"))
    _, test = holdout_split(labels, sources, test_size=0.2)
    strata = Counter((labels[i], sources[i]) for i in test)
    expected = {("spam", "sms"): 4, ("ham", "sms"): 16, ("spam", "mail"): 4, ("ham", "mail"): 16}
    assert strata == expected


def test_a_sources_holdout_does_not_depend_on_the_other_sources() -> None:
    """An SMS-only run and an SMS + email run score SMS on the same messages."""
    sms_labels, sms_sources = _labels_sources(37, 263, ("sms",))
    _, alone = holdout_split(sms_labels, sms_sources)
    mail_labels, mail_sources = _labels_sources(90, 110, ("mail",))
    for labels, sources, offset in (
        (sms_labels + mail_labels, sms_sources + mail_sources, 0),
        (mail_labels + sms_labels, mail_sources + sms_sources, len(mail_labels)),
    ):
        _, test = holdout_split(labels, sources)
        sms_test = [i - offset for i in test if sources[i] == "sms"]
        assert sms_test == alone.tolist()


def test_a_tiny_source_does_not_move_the_other_sources_split() -> None:
    """A source with a label seen once (a few reports) is split without stratifying."""
    labels, sources = _labels_sources(20, 80)
    _, alone = holdout_split(labels, sources)
    for extra in (["spam"], ["spam", "ham", "ham", "ham", "ham"]):
        more_labels, more_sources = [*labels, *extra], [*sources, *["tiny"] * len(extra)]
        train, test = holdout_split(more_labels, more_sources)
        assert len(train) + len(test) == 100 + len(extra)
        assert [i for i in test if i < 100] == alone.tolist()
    train, test = holdout_split([*labels, "spam"], [*sources, "tiny"])
    assert 100 in train  # a single message is trained on


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_keeps_the_spam_share(seed: int) -> None:
    labels, sources = _labels_sources(50, 450)
    _, test = holdout_split(labels, sources, seed=seed)
    assert sum(labels[i] == "spam" for i in test) == 10

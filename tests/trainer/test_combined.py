"""Training on SMS and SpamAssassin emails together reports every source on its own.

A stratified subsample of both shared corpora (500 messages each, label shares kept)
keeps the run to a few seconds of CPU; the full combined run is in the README.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.data import Message, load_sources
from trainer.train import TrainOptions, train

PER_SOURCE = 500


def _stratified(messages: list[Message], n: int) -> list[Message]:
    """Every k-th message of each label, so the subsample keeps the source's spam share."""
    picked: list[Message] = []
    for label in ("spam", "ham"):
        group = [m for m in messages if m.label == label]
        want = max(1, round(n * len(group) / len(messages)))
        step = len(group) / want
        picked += [group[int(i * step)] for i in range(want)]
    return picked


@pytest.fixture(scope="module")
def combined(sms_collection_path: Path, spamassassin_dir: Path):
    sms = load_sources([str(sms_collection_path)])
    mail = load_sources([str(spamassassin_dir)])
    messages = _stratified(sms, PER_SOURCE) + _stratified(mail, PER_SOURCE)
    options = TrainOptions(folds=3, n_jobs=1, grid=({"C": 30.0, "class_weight": None},))
    return train(messages, options)


def test_combined_training_reports_each_source(combined) -> None:
    result = combined
    m = result.metrics
    sources = {"SMSSpamCollection", "spamassassin"}
    assert set(m["data"]["sources"]) == sources
    per_source = m["holdout_per_source"]
    assert set(per_source) == sources
    assert sum(r["n"] for r in per_source.values()) == m["holdout"]["n"]
    for report in per_source.values():
        for key in ("accuracy", "precision", "recall", "mcc", "ham_blocked"):
            assert -1.0 <= report[key] <= 1.0
    assert set(m["baseline"]["holdout_per_source"]) == sources


def test_threshold_keeps_each_large_source_within_the_limit_out_of_fold(combined) -> None:
    """Both sources have >= MIN_SOURCE_HAM training ham, so each gets its own threshold."""
    result = combined
    selected = result.metrics["cv"]["selected"]
    assert set(selected["source_thresholds"]) == {"SMSSpamCollection", "spamassassin"}
    assert result.threshold >= max(selected["source_thresholds"].values())
    for name, report in selected["per_source"].items():
        assert report["ham_blocked"] <= 0.002, name

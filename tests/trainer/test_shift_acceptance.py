"""Acceptance of the shift test (issue 23) on replayed SMS traffic, through ``monitor --log``.

The SMS model is trained with the trainer's protocol and published with its reference (the
share of its holdout its threshold calls spam) to a registry on moto over HTTP. Traffic is
replayed from the holdout, which the model never saw: each message is spam with the given
probability and drawn at random from the holdout's spam or ham; the model's own verdicts
at its threshold are what the API would count. The windows are written as the API's EMF
lines (one line per 100 messages, as ``/predict/batch`` writes them) and read back by
``monitor --log``, which takes the reference from the registry.

- traffic at the collection's own spam share (13.4 %), 20 seeds: flagged at most once;
- the same traffic with the spam share moved to 29 %, 20 seeds: flagged every time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support import scored_line
from trainer.artifacts import build_bundle
from trainer.cli import EXIT_OK, main
from trainer.data import load_sources
from trainer.registry import publish
from trainer.train import TrainingResult, TrainOptions, summarize, train

pytestmark = pytest.mark.slow  # trains the SMS model (~15 s on 2 cores)

WINDOW = 1000
SEEDS = range(20)
SHIFTED_SHARE = 0.29


@pytest.fixture(scope="module")
def sms_model(sms_collection_path: Path) -> tuple[TrainingResult, float]:
    """The SMS model as ``train`` publishes it, and the collection's own spam share."""
    messages = load_sources([str(sms_collection_path)])
    share = sum(m.label == "spam" for m in messages) / len(messages)
    return train(messages, TrainOptions(n_jobs=2)), share


def replay(result: TrainingResult, spam_share: float, seed: int) -> list[float]:
    """The spam probabilities of ``WINDOW`` holdout messages with that expected spam share."""
    rng = np.random.default_rng(seed)
    scores, y = result.holdout.scores, result.holdout.y
    pools = {True: scores[y == 1], False: scores[y == 0]}
    is_spam = rng.random(WINDOW) < spam_share
    return [float(rng.choice(pools[bool(spam)])) for spam in is_spam]


def shift_of(
    log: Path, probabilities: list[float], version: str, threshold: float, registry, capsys
):
    lines = [
        scored_line(version, probabilities[i : i + 100], threshold=threshold, timestamp_ms=i)
        for i in range(0, len(probabilities), 100)
    ]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["monitor", "--log", str(log), "--json", "--window", str(WINDOW), *registry])
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    (row,) = json.loads(out)["versions"]
    return row["shift"]


def test_a_spam_share_moved_to_29_percent_is_flagged_and_unshifted_traffic_is_not(
    sms_model, s3_client, bucket, s3_endpoint, tmp_path, capsys
) -> None:
    result, base_share = sms_model
    summary = summarize(result.metrics)
    bundle = build_bundle(
        result.vectorizer, result.classifier, result.threshold, result.metrics, summary
    )
    version = publish(s3_client, bucket, "models/", bundle).version
    registry = ["--bucket", bucket, "--endpoint-url", s3_endpoint]
    assert 0.12 < base_share < 0.14  # "about 13 %": the collection as it is
    assert summary["holdout_messages"] == 1032  # the README's holdout

    def flags(share: float) -> list[dict]:
        return [
            shift_of(
                tmp_path / f"{share}-{seed}.log",
                replay(result, share, seed),
                version,
                result.threshold,
                registry,
                capsys,
            )
            for seed in SEEDS
        ]

    unshifted, shifted = flags(base_share), flags(SHIFTED_SHARE)
    for shift in unshifted + shifted:
        assert shift["live_n"] == WINDOW
        assert shift["reference_rate"] == summary["predicted_spam_rate"]
        assert shift["reference_n"] == 1032
    assert sum(s["flagged"] for s in unshifted) <= 1, [round(s["z"], 2) for s in unshifted]
    assert all(s["flagged"] for s in shifted), [round(s["z"], 2) for s in shifted]

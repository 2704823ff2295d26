"""Issue #24's acceptance of the live estimate: setup (a)'s k = 0 model (the SMS model, trained
with the protocol) answers SpamAssassin traffic; 200 labelled random-stratum records give
95 % intervals for ham blocked and spam recall that must hold the truth, measured on the rest
of the place, in at least 17 of 20 seeds. Slow: it trains and scores about 5,900 emails."""

from __future__ import annotations

import numpy as np
import pytest
from chalicelib.capture_format import new_record

from bench.adaptation_reports import reportable
from trainer.data import load_sources
from trainer.quality import quality_report
from trainer.train import TrainOptions, train

pytestmark = pytest.mark.slow

LABELLED = 200
RATE = 0.01


def test_the_intervals_hold_the_truth_on_the_rest_of_the_place(
    sms_collection_path, spamassassin_dir
) -> None:
    base = load_sources([str(sms_collection_path)])
    place = reportable(load_sources([str(spamassassin_dir)]), base)
    model = train(base, TrainOptions(baseline=False))
    texts = [m.text for m in place]
    scores = model.classifier.predict_proba(model.vectorizer.transform(texts))[:, 1]
    flagged = scores >= model.threshold
    spam = np.array([m.label == "spam" for m in place])

    held = {"ham_blocked": 0, "recall": 0}
    widths: dict[str, list[float]] = {"ham_blocked": [], "recall": []}
    for seed in range(20):
        picked = np.random.default_rng(seed).choice(len(place), LABELLED, replace=False)
        records = [
            new_record(
                texts[i],
                record_id=f"20261207T100000Z-{int(i):016x}",
                captured_at="2026-12-07T10:00:00Z",
                request_id=f"req-{i}",
                position=0,
                model_version="k0",
                spam_probability=float(scores[i]),
                threshold=model.threshold,
                stratum="random",
                inclusion_probability=RATE,
            ).labelled(place[i].label, by="test", at="2026-12-08T09:00:00.000000Z")
            for i in picked
        ]
        (version,) = quality_report(records).versions
        rest = np.ones(len(place), dtype=bool)
        rest[picked] = False
        truth = {
            "ham_blocked": flagged[rest & ~spam].mean(),
            "recall": flagged[rest & spam].mean(),
        }
        for name, value in truth.items():
            interval = getattr(version, name)
            held[name] += int(interval.lo <= value <= interval.hi)
            widths[name].append(interval.hi - interval.lo)
    print(  # the figures for the README
        f"\nintervals holding the truth in 20 seeds: {held}; truth on the whole place: ham "
        f"blocked {flagged[~spam].mean():.3f}, recall {flagged[spam].mean():.3f}; median "
        f"widths { ({k: round(float(np.median(v)), 3) for k, v in widths.items()}) }"
    )
    assert held["ham_blocked"] >= 17 and held["recall"] >= 17, held

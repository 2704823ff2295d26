"""How labelled captures are learnt: the comparison behind ``trainer.train.CAPTURE_MEDIUM`` and
``RANDOM_CAPTURES_CHOOSE`` (issue #24), run once; its figures are in trainer/README.md.

Setup (a) of ``bench.adaptation``: the SMS model meets SpamAssassin. The place's
reportable messages are split once (``split_place``); the first half is the traffic the
API answers with the k = 0 model, and the capture decision of ``chalicelib.capture_format``
keeps some of it (:func:`simulate_capture`: a random stratum at ``--rate``, and of the rest
the messages within the uncertainty band at ``--uncertain-rate``). A person labels what
``capture queue`` serves (``trainer.capture_queue.queue_order``: the least certain first,
a quarter of the batch from the random stratum). With those labels alone, and with them
and the first round of 50 error reports (``bench.adaptation.error_round``), each way of
learning (:data:`VARIANTS`) is trained, and scored by CV (the random stratum's out-of-fold
figures, ``cv.place``), on the place's second half (never captured) and on the SMS
holdout. Run::

    python -m bench.capture_choice --out build/capture-choice [--ks 100 200] [--quick]
    python -m bench.capture_choice --shares 0.25 0.5 1 --rounds 2    # the queue's random share

About 25 s per training on 2 cores with the full grid (SMS alone), several minutes per
row with captures; not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from chalicelib.capture_format import (
    CaptureRecord,
    capture_stratum,
    inclusion_probability,
    new_record,
)

from bench.adaptation import (
    DATA,
    QUICK,
    ROUND_SIZE,
    SPLIT_SEED,
    PlaceHalves,
    error_round,
    setups,
    split_place,
)
from bench.adaptation_reports import as_reports, reportable, score
from trainer.capture_queue import queue_order
from trainer.feedback import FEEDBACK_MEDIUM
from trainer.train import OWN_CAPTURE_MEDIUM, TrainingResult, TrainOptions, train

__all__ = ["VARIANTS", "label_records", "simulate_capture"]

#: The ways of learning from captures compared: their medium (the reports' expert, or one
#: of their own), and what the random stratum's out-of-fold scores choose with the corpus's:
#: nothing (they are only reported), the captures' expert's setting and threshold, or all.
VARIANTS: dict[str, dict[str, Any]] = {
    "reports' expert, corpus chooses": {
        "capture_medium": FEEDBACK_MEDIUM,
        "random_captures_choose": "none",
    },
    "own expert, corpus chooses": {
        "capture_medium": OWN_CAPTURE_MEDIUM,
        "random_captures_choose": "none",
    },
    "reports' expert, random stratum chooses it": {
        "capture_medium": FEEDBACK_MEDIUM,
        "random_captures_choose": "expert",
    },
    "reports' expert, random stratum chooses too": {
        "capture_medium": FEEDBACK_MEDIUM,
        "random_captures_choose": "all",
    },
    "own expert, random stratum chooses too": {
        "capture_medium": OWN_CAPTURE_MEDIUM,
        "random_captures_choose": "all",
    },
}
BAND = 0.1  # the API's UNCERTAINTY_BAND default


def simulate_capture(
    halves: PlaceHalves,
    spam_probability: np.ndarray,
    threshold: float,
    rate: float,
    uncertain_rate: float,
    band: float = BAND,
    model_version: str = "k0",
    seed: int = SPLIT_SEED,
) -> list[CaptureRecord]:
    """The pending records the API would keep of the first half, scored ``spam_probability``.

    Message ``i`` of the pool is request ``sim-i``'s only message. The first half arrives in
    an order of its own (seeded: the pool lists a corpus folder by folder, ham first), one
    message a second; a record's id is its arrival time and its pool index.
    """
    arrival = np.random.default_rng(seed).permutation(halves.first.size)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = []
    for i, p, second in zip(halves.first, spam_probability, arrival, strict=True):
        stratum = capture_stratum(
            f"sim-{i}",
            0,
            spam_probability=float(p),
            threshold=threshold,
            band=band,
            rate=rate,
            uncertain_rate=uncertain_rate,
        )
        if stratum is None:
            continue
        at = start + timedelta(seconds=int(second))
        records.append(
            new_record(
                halves.pool[i].text,
                record_id=f"{at:%Y%m%dT%H%M%SZ}-{int(i):016x}",
                captured_at=f"{at:%Y-%m-%dT%H:%M:%SZ}",
                request_id=f"sim-{i}",
                position=0,
                model_version=model_version,
                spam_probability=float(p),
                threshold=threshold,
                stratum=stratum,
                inclusion_probability=inclusion_probability(stratum, rate, uncertain_rate),
            )
        )
    return records


def label_records(halves: PlaceHalves, records: Sequence[CaptureRecord]) -> list[CaptureRecord]:
    """The records labelled with their messages' true labels (a careful person)."""
    return [
        r.labelled(halves.pool[int(r.id[-16:], 16)].label, by="sim", at="2026-01-02T00:00:00Z")
        for r in records
    ]


def _scores(result: TrainingResult, texts: Sequence[str]) -> np.ndarray:
    return result.classifier.predict_proba(result.vectorizer.transform(list(texts)))[:, 1]


def _row(
    name: str,
    batch: str,
    labelled: Sequence[CaptureRecord],
    result: TrainingResult,
    halves: PlaceHalves,
    source: str,
) -> dict[str, Any]:
    keys = ("mcc", "recall", "ham_blocked")
    new = score(
        result.vectorizer, result.classifier, result.threshold, halves.messages(halves.second)
    )
    base = result.metrics.get("holdout_per_source", {}).get(source, result.metrics["holdout"])
    place = result.metrics["cv"].get("place")
    return {
        "variant": name,
        "batch": batch,
        "k": len(labelled),
        "random": sum(r.stratum == "random" for r in labelled),
        "spam": sum(r.label == "spam" for r in labelled),
        "cv_place": None if place is None else {k: place[k] for k in (*keys, "n")},
        "cv_corpus_mcc": result.metrics["cv"]["selected"]["mcc"],
        "new": {k: new[k] for k in keys},
        "base": {k: base[k] for k in keys},
        "threshold": result.threshold,
        "seconds": result.metrics["timing_s"]["total"],
    }


def _line(row: dict[str, Any]) -> str:
    place = row["cv_place"]
    cv = "-" if place is None else f"{place['mcc']:.3f} (n {place['n']})"
    return (
        f"{row['variant']:<44} | {row['batch']:<14} k={row['k']:>3} ({row['random']} random, "
        f"{row['spam']} spam) | CV place MCC {cv} | new MCC {row['new']['mcc']:.3f} rec "
        f"{row['new']['recall']:.3f} hb {100 * row['new']['ham_blocked']:.2f}% | base MCC "
        f"{row['base']['mcc']:.4f} | thr {row['threshold']:.3f} | {row['seconds']:.0f} s"
    )


def queue_rounds(
    setup: Any,
    halves: PlaceHalves,
    k0: TrainingResult,
    pending: Sequence[CaptureRecord],
    options: TrainOptions,
    share: float,
    rounds: int,
    size: int = ROUND_SIZE,
) -> list[dict[str, Any]]:
    """Label ``size`` records a round as ``capture queue`` serves them (``share`` of each
    batch random), retrain, rescore the rest with the new model, repeat."""
    model, labelled, rows = k0, [], []
    for number in range(1, rounds + 1):
        done = {r.id for r in labelled}
        left = [r for r in pending if r.id not in done]
        uncertain = [r for r in left if r.stratum == "uncertain"]
        live = dict(
            zip(
                (r.id for r in uncertain),
                _scores(model, [r.text for r in uncertain]),
                strict=True,
            )
        )
        labelled += label_records(halves, queue_order(left, live, model.threshold, size, share))
        model = train(setup.base, options, (), labelled)
        name = f"queue, {share:.0%} random"
        rows.append(_row(name, f"round {number}", labelled, model, halves, setup.base[0].source))
        print(_line(rows[-1]), flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capture_choice", description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("build/capture-choice"))
    parser.add_argument("--ks", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--rate", type=float, default=0.1, help="CAPTURE_RATE")
    parser.add_argument("--uncertain-rate", type=float, default=1.0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="bench.adaptation's narrowed grid")
    parser.add_argument(
        "--shares",
        type=float,
        nargs="*",
        default=[],
        help="instead: rounds of 50 through the queue with each random share (default way)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="with --shares")
    args = parser.parse_args(argv)
    options = TrainOptions(n_jobs=args.n_jobs, baseline=False)
    if args.quick:
        options = replace(options, **QUICK)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    (setup,) = setups(args.data, ["a"])
    halves = split_place(reportable(setup.new, setup.base))
    k0 = train(setup.base, options)
    first = halves.messages(halves.first)
    scores = _scores(k0, [m.text for m in first])
    pending = simulate_capture(halves, scores, k0.threshold, args.rate, args.uncertain_rate)
    live = {r.id: r.spam_probability for r in pending}
    print(
        f"k = 0: threshold {k0.threshold:.3f}; captured {len(pending)} of {len(first)} "
        f"({sum(r.stratum == 'random' for r in pending)} random)",
        flush=True,
    )
    if args.shares:
        rows = []
        for share in args.shares:
            rows += queue_rounds(setup, halves, k0, pending, options, share, args.rounds)
            (args.out / "queue-shares.json").write_text(json.dumps(rows, indent=2) + "\n")
        print(f"done in {time.perf_counter() - started:.0f} s")
        return 0
    picks = error_round(halves, [], lambda ms: _scores(k0, [m.text for m in ms]), k0.threshold, 1)
    reports = as_reports(halves.pool, picks)
    print(f"{len(reports)} error reports ({sum(r.label == 'spam' for r in reports)} spam)")
    rows = []
    for k in args.ks:
        labelled = label_records(halves, queue_order(pending, live, k0.threshold, k))
        for with_reports in (False, True):
            given = reports if with_reports else []
            batch = f"queue k={k}" + (f" + {len(given)} reports" if given else "")
            # without reports, captures are the only pooled medium: its name changes nothing
            names = [
                n
                for n in args.variants
                if given or VARIANTS[n]["capture_medium"] == FEEDBACK_MEDIUM
            ]
            for name in names:
                result = train(setup.base, replace(options, **VARIANTS[name]), given, labelled)
                rows.append(_row(name, batch, labelled, result, halves, setup.base[0].source))
                print(_line(rows[-1]), flush=True)
                (args.out / "capture-choice.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How labelled captures are learnt: the comparison behind ``trainer.train.CAPTURE_MEDIUM`` and
``RANDOM_CAPTURES_CHOOSE`` (issue #24), run once; its figures are in trainer/README.md.

Setup (a) of ``bench.adaptation``: the SMS model meets SpamAssassin. The first half of
the place is one round of traffic answered by the k = 0 model and captured as the API
would (``bench.labelling.capture_traffic``: a random stratum at ``--rate``, and of the rest
the messages within the uncertainty band at ``--uncertain-rate``). A person labels k
records as ``capture queue`` served them then (``trainer.capture_queue.queue_order``, the
least certain first and a quarter from the random stratum; the seed set of random labels
came later, and the figures in trainer/README.md were measured at 779f868 without it).
With those labels alone, and with them and the first round of 50 error reports
(``bench.adaptation.error_round``), each way of learning (:data:`VARIANTS`) is trained,
and scored by CV (the random stratum's out-of-fold figures, ``cv.place``), on the place's
second half (never captured) and on the SMS holdout. Run::

    python -m bench.capture_choice --out build/capture-choice [--ks 100 200] [--quick]

About 25 s per training on 2 cores with the full grid (SMS alone), several minutes per
row with captures; not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from chalicelib.capture_format import CaptureRecord

from bench.adaptation import (
    DATA,
    QUICK,
    PlaceHalves,
    base_report,
    error_round,
    setups,
    spam_probability_of,
    split_place,
)
from bench.adaptation_reports import as_reports, reportable, score
from bench.labelling import RATE, UNCERTAIN_RATE, capture_traffic, label_records
from trainer.capture_queue import RANDOM_FIRST, queue_order
from trainer.feedback import FEEDBACK_MEDIUM
from trainer.train import OWN_CAPTURE_MEDIUM, TrainingResult, TrainOptions, train

__all__ = ["VARIANTS", "main"]

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
    base = base_report(result.metrics, source)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capture_choice", description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("build/capture-choice"))
    parser.add_argument("--ks", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--rate", type=float, default=RATE, help="CAPTURE_RATE")
    parser.add_argument("--uncertain-rate", type=float, default=UNCERTAIN_RATE)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="bench.adaptation's narrowed grid")
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
    scores = spam_probability_of(k0)(first)
    pending = capture_traffic(
        halves,
        1,
        lambda _: scores,  # the first half, in its order: scored once for both uses
        k0.threshold,
        set(),
        args.rate,
        args.uncertain_rate,
        model_version="k0",
    )
    live = {r.id: r.spam_probability for r in pending}
    print(
        f"k = 0: threshold {k0.threshold:.3f}; captured {len(pending)} of {len(first)} "
        f"({sum(r.stratum == 'random' for r in pending)} random)",
        flush=True,
    )
    picks = error_round(halves, [], lambda _: scores, k0.threshold, 1)
    reports = as_reports(halves.pool, picks)
    print(f"{len(reports)} error reports ({sum(r.label == 'spam' for r in reports)} spam)")
    rows = []
    for k in args.ks:
        served = queue_order(pending, live, k0.threshold, k, random_labelled=RANDOM_FIRST)
        labelled = label_records(halves, served)
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

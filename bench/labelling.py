"""The labelling curve: how a model learns from what ``capture queue`` serves (issue #24).

On a setup of ``bench.adaptation``, on its halves (labels come from the first half only, MCC
is measured on the second), in rounds of ``ROUND_SIZE``:

1. *the traffic* (:func:`capture_traffic`): every first-half message not captured yet
   passes the live model once, as request ``place-<r>-<i>``, and the API's own capture
   decision (``chalicelib.capture_format.capture_stratum``, at ``RATE`` and
   ``UNCERTAIN_RATE``, the band of ``chalicelib.settings``) keeps it or not, with the live
   model's probability and threshold. A place's traffic keeps coming while a person labels,
   so the uncertain stratum follows the live model: each round's is kept by the model
   of that round;
2. *the labels*: a person labels the next ``ROUND_SIZE`` records ``capture queue`` would
   serve (``trainer.capture_queue.queue_order``: the store's first ``RANDOM_FIRST`` labels
   from the random stratum, then the least certain under the live model with a share for
   the random stratum), correctly (the message's own label);
3. the model is retrained from scratch (seed 42) on the corpus and every label so far
   (``train(..., captures=)``, as ``train --capture`` does), and scored on the second half.

Compared in the same run with random reports and error-driven rounds (``bench.adaptation``:
the same halves, seeds and training). ``--draws N`` repeats the queue and the random
reports with N draws (seeds 7, 8, ...: which messages the capture keeps, which are reported
at random) and gives each way's mean: a single draw of 50 or 100 labels moves MCC by several
hundredths. Through the real loop: ``bench.adaptation_loop`` (``--queue``). Run::

    python -m bench.labelling --out build/labelling [--setups a b] [--rounds 4]
        [--random 50 100 200] [--errors 4] [--draws 5] [--quick]

About a minute a training on 2 cores for setup (a), several for (b); not part of
``make bench`` (whose section 9 has (a)'s first two rounds through the real loop).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from chalicelib.capture_format import (
    CaptureRecord,
    capture_stratum,
    inclusion_probability,
    new_record,
)
from chalicelib.metrics_format import DEFAULT_UNCERTAINTY_BAND

from bench.adaptation import (
    ROUND_SIZE,
    SPLIT_SEED,
    PlaceHalves,
    Setup,
    add_run_arguments,
    curve_line,
    curve_row,
    random_curve,
    rounds_curve,
    run_options,
    save_curves,
    say,
    setups,
    spam_probability_of,
    split_place,
)
from bench.adaptation_reports import reportable
from trainer.capture_queue import RANDOM_SHARE, queue_order
from trainer.data import Message
from trainer.train import TrainingResult, TrainOptions, train

__all__ = [
    "RATE",
    "UNCERTAIN_RATE",
    "capture_traffic",
    "label_records",
    "main",
    "pool_index",
    "queue_curve",
]

#: The capture rates of the curve: a place of a few thousand messages gives a few hundred
#: random records a round at 10 %, and every message near the threshold is kept.
RATE = 0.1
UNCERTAIN_RATE = 1.0
_START = datetime(2026, 1, 1, tzinfo=UTC)


def pool_index(record: CaptureRecord) -> int:
    """The pool index a record of this module was captured from (the id's hex tail)."""
    return int(record.id.rsplit("-", 1)[1], 16)


def capture_traffic(
    halves: PlaceHalves,
    round_number: int,
    spam_probability: Callable[[list[Message]], np.ndarray],
    threshold: float,
    captured: set[int],
    rate: float = RATE,
    uncertain_rate: float = UNCERTAIN_RATE,
    band: float = DEFAULT_UNCERTAINTY_BAND,
    model_version: str = "",
    seed: int = SPLIT_SEED,
) -> list[CaptureRecord]:
    """The records the API keeps of round ``round_number``'s traffic.

    The traffic is every first-half message whose index is not in ``captured``, scored by
    ``spam_probability`` (the live model); message ``i`` is request ``place-<r>-<i>``'s only
    one (``place-s<seed>-<r>-<i>`` for another draw than the curve's own, seed 7). The
    round's messages arrive on day r in an order of their own (seed (seed, r): the pool
    lists a corpus folder by folder, ham first), one a second; a record's id is its arrival
    time and its pool index.

    >>> pool = [Message(f"m{i}", "spam" if i % 2 else "ham", "n", str(i)) for i in range(400)]
    >>> halves = split_place(pool)
    >>> unsure = lambda messages: np.full(len(messages), 0.5)
    >>> kept = capture_traffic(halves, 1, unsure, 0.5, set(), rate=0.1, uncertain_rate=1.0)
    >>> len(kept) == 200, {r.stratum for r in kept} == {"random", "uncertain"}
    (True, True)
    >>> capture_traffic(halves, 2, unsure, 0.5, {pool_index(r) for r in kept})
    []
    """
    traffic = [int(i) for i in halves.first if int(i) not in captured]
    if not traffic:
        return []
    scores = np.asarray(spam_probability(halves.messages(traffic)), dtype=float)
    arrival = np.random.default_rng((seed, round_number)).permutation(len(traffic))
    day = _START + timedelta(days=round_number)
    draw = "" if seed == SPLIT_SEED else f"s{seed}-"
    records = []
    for i, p, second in zip(traffic, scores, arrival, strict=True):
        request_id = f"place-{draw}{round_number}-{i}"
        stratum = capture_stratum(
            request_id,
            0,
            spam_probability=float(p),
            threshold=threshold,
            band=band,
            rate=rate,
            uncertain_rate=uncertain_rate,
        )
        if stratum is None:
            continue
        at = day + timedelta(seconds=int(second))
        records.append(
            new_record(
                halves.pool[i].text,
                record_id=f"{at:%Y%m%dT%H%M%SZ}-{i:016x}",
                captured_at=f"{at:%Y-%m-%dT%H:%M:%SZ}",
                request_id=request_id,
                position=0,
                model_version=model_version or f"round-{round_number - 1}",
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
        r.labelled(halves.pool[pool_index(r)].label, by="bench", at="2026-01-01T00:00:00Z")
        for r in records
    ]


def queue_curve(
    setup: Setup,
    options: TrainOptions,
    rounds: int = 4,
    share: float = RANDOM_SHARE,
    rate: float = RATE,
    uncertain_rate: float = UNCERTAIN_RATE,
    say: Callable[[str], None] = print,
    seed: int = SPLIT_SEED,
    k0: TrainingResult | None = None,
) -> list[dict[str, Any]]:
    """k = 0, then one row per round of labels served by the queue (the module docstring).

    ``seed`` draws the capture (``capture_traffic``); ``k0``, the corpus's model if trained.
    """
    halves = split_place(reportable(setup.new, setup.base))
    source = setup.base[0].source
    model = k0 or train(setup.base, options)
    rows = [curve_row(halves, [], model, source, options, 1, setup.base)]
    say(curve_line(setup.name, "queue", rows[-1]))
    pending: dict[int, CaptureRecord] = {}
    labelled: list[CaptureRecord] = []
    for number in range(1, rounds + 1):
        live = spam_probability_of(model)
        captured = set(pending) | {pool_index(r) for r in labelled}
        for record in capture_traffic(
            halves, number, live, model.threshold, captured, rate, uncertain_rate, seed=seed
        ):
            pending[pool_index(record)] = record
        waiting = list(pending.values())
        uncertain = [r for r in waiting if r.stratum == "uncertain"]
        scores = live(halves.messages([pool_index(r) for r in uncertain])) if uncertain else []
        live_scores = {r.id: float(p) for r, p in zip(uncertain, scores, strict=True)}
        random_labelled = sum(r.stratum == "random" for r in labelled)
        batch = queue_order(
            waiting,
            live_scores,
            model.threshold,
            ROUND_SIZE,
            share,
            random_labelled=random_labelled,
        )
        if not batch:
            say(f"{setup.name} | round {number}: nothing left to label")
            break
        for record in batch:
            del pending[pool_index(record)]
        labelled += label_records(halves, batch)
        model = train(setup.base, options, (), labelled)
        indices = [pool_index(r) for r in labelled]
        rows.append(curve_row(halves, indices, model, source, options, 1, setup.base))
        rows[-1].update(
            round=number,
            random_labelled=sum(r.stratum == "random" for r in labelled),
            pending=len(pending),
        )
        say(curve_line(setup.name, "queue", rows[-1]))
    return rows


def markdown(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """New-place MCC by k for each way of choosing what to label, one line per setup and way;
    with several draws, each way's mean and sample std over them too."""
    ks = sorted({row["k"] for curves in results.values() for c in curves.values() for row in c})
    lines = [
        "| setup | labels | " + " | ".join(f"k = {k}" for k in ks) + " | base MCC, lowest |",
        "| --- | --- | " + " | ".join("---" for _ in ks) + " | --- |",
    ]
    for name, curves in results.items():
        by_way: dict[str, list[list[dict[str, Any]]]] = {}
        for how, rows in curves.items():
            by_k = {row["k"]: row["new"]["mcc"] for row in rows}
            cells = [f"{by_k[k]:.3f}" if k in by_k else "–" for k in ks]
            lowest = min(row["base"]["mcc"] for row in rows)
            lines.append(f"| {name} | {how} | " + " | ".join(cells) + f" | {lowest:.4f} |")
            by_way.setdefault(how.split(", draw ")[0], []).append(rows)
        for way, draws in by_way.items():
            if len(draws) < 2:
                continue
            cells = []
            for k in ks:
                values = [row["new"]["mcc"] for rows in draws for row in rows if row["k"] == k]
                cells.append(
                    f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"
                    if len(values) == len(draws)
                    else "–"
                )
            lowest = min(row["base"]["mcc"] for rows in draws for row in rows)
            lines.append(
                f"| {name} | {way}, mean ± std of {len(draws)} draws | "
                + " | ".join(cells)
                + f" | {lowest:.4f} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.labelling", description=__doc__)
    add_run_arguments(parser, "build/labelling")
    parser.add_argument("--rounds", type=int, default=4, help="rounds through the queue")
    parser.add_argument("--share", type=float, default=RANDOM_SHARE)
    parser.add_argument("--random", type=int, nargs="*", default=[50, 100, 200])
    parser.add_argument("--errors", type=int, default=4, help="rounds of error reports (0: none)")
    parser.add_argument(
        "--draws",
        type=int,
        default=1,
        help="draws of the capture and of the random reports (seeds 7, 8, ...)",
    )
    args = parser.parse_args(argv)
    options = run_options(args)
    started = time.perf_counter()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for setup in setups(args.data, args.setups):
        k0 = train(setup.base, options)
        curves = {}
        for seed in range(SPLIT_SEED, SPLIT_SEED + args.draws):
            tag = "" if seed == SPLIT_SEED else f", draw {seed}"
            curves[f"queue{tag}"] = queue_curve(
                setup, options, args.rounds, args.share, say=say, seed=seed, k0=k0
            )
            if args.random:
                ks = args.random
                curves[f"random reports{tag}"] = random_curve(setup, options, ks, 1, say, seed)
        if args.errors:
            curves["error reports, rounds"] = rounds_curve(setup, options, args.errors, 1, say, k0)
        results[setup.name] = curves
        save_curves(args.out, "labelling", results, markdown)
    print(markdown(results))
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

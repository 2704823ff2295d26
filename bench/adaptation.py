"""The adaptation curve: how a model learns from the reports of a new place.

The rounds are defined here once, and the offline curve below, the real loop
(``bench.adaptation_loop``) and the tests all use them:

- the place's reportable messages (``bench.adaptation_reports.reportable``) are split once,
  50/50 by label, seed 7 (:func:`split_place`): reports come from the first half only, and
  MCC is always measured on the second;
- round r (1, 2, ...) draws up to 50 messages of the first half, not reported before, whose
  verdict is wrong (``spam_probability >= threshold``, as ``/predict`` answers), at random
  with seed (7, r) (:func:`error_round`): people report the live model's mistakes, and
  report again after every retrain. k counts every report so far; the model is retrained
  from scratch (seed 42) after each round;
- random reports: k messages of the first half, stratified by label, nested in k, seed 7
  (:func:`random_reports`), as if people reported at random.

Offline, with the trainer's own ``train(..., feedback=)``. Run::

    python -m bench.adaptation --out build/adaptation [--setups a b c] [--rounds 4]
        [--random 50 200 500] [--repeats 5] [--quick]

Setups: (a) SMS, SpamAssassin new; (b) SpamAssassin, SMS new; (c) SpamAssassin easy_ham,
easy_ham_2 and spam, with hard_ham and spam_2 new. ``--repeats N`` retrains every point with
seeds 42 ... 42+N-1 (the same reports) and gives the base corpus's holdout figures as mean
and std. Not part of ``make bench``: the whole run takes hours on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from bench.adaptation_reports import as_reports, reportable, score
from trainer.data import Message, load_email_dir, load_sources
from trainer.repeats import repeat_protocol
from trainer.train import TrainingResult, TrainOptions, train

__all__ = [
    "QUICK",
    "RANDOM_KS",
    "ROUND_SIZE",
    "SPLIT_SEED",
    "PlaceHalves",
    "Setup",
    "add_run_arguments",
    "base_report",
    "curve_line",
    "curve_row",
    "error_round",
    "random_curve",
    "random_reports",
    "rounds_curve",
    "run_options",
    "save_curves",
    "say",
    "setups",
    "spam_probability_of",
    "split_place",
]

#: The seed of the place's split, of the random reports, and (with the round) of each round.
SPLIT_SEED = 7
#: Reports per round.
ROUND_SIZE = 50
#: Random reports: the k the curve is drawn at.
RANDOM_KS = (0, 50, 200, 500)
#: ``--quick``: a narrowed grid for the email-based setups, whose full grid costs about ten
#: minutes a point on 2 cores (C 300 is what CV chose for email in the full combined run).
QUICK = {
    "grid": ({"C": 30.0, "class_weight": None}, {"C": 300.0, "class_weight": None}),
    "expert_grid": ({"C": 30.0, "class_weight": None}, {"C": 300.0, "class_weight": None}),
    "gate_grid": ({"C": 100.0},),
    "gate_sharpness": (1.0, 4.0),
}
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Setup:
    """A base corpus the model starts from and the new place reports come from."""

    name: str
    base: list[Message]
    new: list[Message]


def setups(data: Path, names: Sequence[str]) -> list[Setup]:
    """The three setups of the module docstring (only those in ``names``)."""
    sms = str(data / "sms_spam_collection" / "SMSSpamCollection")
    sa = data / "spamassassin"
    out = []
    if "a" in names:
        out.append(Setup("a: SMS, SpamAssassin new", load_sources([sms]), load_sources([str(sa)])))
    if "b" in names:
        out.append(Setup("b: SpamAssassin, SMS new", load_sources([str(sa)]), load_sources([sms])))
    if "c" in names:
        base = [
            m
            for folder, label in (("easy_ham", "ham"), ("easy_ham_2", "ham"), ("spam", "spam"))
            for m in load_email_dir(sa / folder, label, source="sa-easy")
        ]
        new = [
            m
            for folder, label in (("hard_ham", "ham"), ("spam_2", "spam"))
            for m in load_email_dir(sa / folder, label, source="sa-hard")
        ]
        out.append(Setup("c: SA easy + spam, hard_ham + spam_2 new", base, new))
    return out


# -- the rounds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceHalves:
    """A new place's reportable messages, split once: reports from ``first``, MCC on ``second``.

    ``first`` and ``second`` index ``pool``, each sorted.
    """

    pool: list[Message]
    first: np.ndarray
    second: np.ndarray

    def messages(self, indices: Sequence[int]) -> list[Message]:
        return [self.pool[i] for i in indices]


def split_place(pool: Sequence[Message], seed: int = SPLIT_SEED) -> PlaceHalves:
    """Split the place's messages 50/50, stratified by label.

    >>> pool = [Message(f"m{i}", "spam" if i % 4 == 0 else "ham", "n", str(i)) for i in range(40)]
    >>> halves = split_place(pool)
    >>> len(halves.first), len(halves.second), sum(pool[i].label == "spam" for i in halves.first)
    (20, 20, 5)
    """
    indices = np.arange(len(pool))
    labels = [m.label for m in pool]
    first, second = train_test_split(indices, test_size=0.5, random_state=seed, stratify=labels)
    return PlaceHalves(list(pool), np.sort(first), np.sort(second))


def random_reports(halves: PlaceHalves, k: int, seed: int = SPLIT_SEED) -> list[int]:
    """k messages of the first half, stratified by label, nested in k (indices into ``pool``).

    >>> pool = [Message(f"m{i}", "spam" if i % 4 == 0 else "ham", "n", str(i)) for i in range(80)]
    >>> halves = split_place(pool)
    >>> small, large = random_reports(halves, 8), random_reports(halves, 20)
    >>> set(small) <= set(large), sum(pool[i].label == "spam" for i in large)
    (True, 5)
    """
    if not 0 <= k <= halves.first.size:
        raise ValueError(f"k must be between 0 and {halves.first.size}, got {k}")
    rng = np.random.default_rng(seed)
    labels = np.array([halves.pool[i].label for i in halves.first], dtype=object)
    spam = rng.permutation(halves.first[labels == "spam"])
    ham = rng.permutation(halves.first[labels == "ham"])
    n_spam = min(spam.size, round(k * spam.size / halves.first.size))
    return [int(i) for i in (*spam[:n_spam], *ham[: k - n_spam])]


def error_round(
    halves: PlaceHalves,
    reported: Sequence[int],
    spam_probability: Callable[[list[Message]], np.ndarray],
    threshold: float,
    round_number: int,
    size: int = ROUND_SIZE,
    seed: int = SPLIT_SEED,
) -> list[int]:
    """Round ``round_number``'s reports: up to ``size`` first-half errors not reported before.

    ``spam_probability`` scores messages as the live model does (the trainer's pickles
    offline, ``/predict/batch`` through the real loop); a verdict is wrong when
    ``spam_probability >= threshold`` disagrees with the label. Fewer than ``size`` when fewer
    errors are left.

    >>> pool = [Message(f"m{i}", "spam" if i % 2 else "ham", "n", str(i)) for i in range(40)]
    >>> halves = split_place(pool)
    >>> everything_spam = lambda messages: np.ones(len(messages))
    >>> picks = error_round(halves, [], everything_spam, 0.5, 1, size=5)
    >>> len(picks), all(pool[i].label == "ham" and i in halves.first for i in picks)
    (5, True)
    """
    done = set(reported)
    candidates = np.array([i for i in halves.first if i not in done], dtype=int)
    if candidates.size == 0:
        return []
    scores = np.asarray(spam_probability(halves.messages(candidates)), dtype=float)
    spam = np.array([halves.pool[i].label == "spam" for i in candidates])
    wrong = candidates[(scores >= threshold) != spam]
    rng = np.random.default_rng((seed, round_number))
    return [int(i) for i in rng.permutation(wrong)[:size]]


# -- the offline curves --------------------------------------------------------------------


def spam_probability_of(result: TrainingResult) -> Callable[[list[Message]], np.ndarray]:
    """Score messages with a trained model as the API would (its pickles, offline)."""

    def scored(messages: list[Message]) -> np.ndarray:
        features = result.vectorizer.transform([m.text for m in messages])
        return result.classifier.predict_proba(features)[:, 1]

    return scored


def base_report(metrics: dict[str, Any], source: str) -> dict[str, Any]:
    """The base corpus's holdout figures in a run's metrics: its source's, else the whole."""
    return metrics.get("holdout_per_source", {}).get(source, metrics["holdout"])


def curve_row(
    halves: PlaceHalves,
    reported: Sequence[int],
    result: TrainingResult,
    source: str,
    options: TrainOptions,
    repeats: int,
    base: list[Message],
) -> dict[str, Any]:
    """One point: k, spam among the ``reported`` (pool indices), the second half's figures
    and the base source's holdout (over ``repeats`` seeds too, when more than one)."""
    keys = ("mcc", "recall", "ham_blocked", "accuracy")
    new = score(
        result.vectorizer, result.classifier, result.threshold, halves.messages(halves.second)
    )
    base = base_report(result.metrics, source)
    row = {
        "k": len(reported),
        "reported_spam": sum(halves.pool[i].label == "spam" for i in reported),
        "threshold": result.threshold,
        "model": type(result.classifier).__name__,
        "new": {key: new[key] for key in keys},
        "base": {key: base[key] for key in keys},
        "seconds": result.metrics["timing_s"]["total"],
    }
    if repeats > 1:
        record = repeat_protocol(
            base, options, result.metrics, repeats, as_reports(halves.pool, reported)
        )
        spread = base_report(record, source)
        row["base_repeats"] = {key: spread[key] for key in ("mcc", "ham_blocked")}
    return row


def rounds_curve(
    setup: Setup,
    options: TrainOptions,
    rounds: int = 4,
    repeats: int = 1,
    say: Callable = print,
    k0: TrainingResult | None = None,
) -> list[dict[str, Any]]:
    """k = 0, then one row per round of error reports (``error_round``), retrained each time.

    ``k0``: the corpus's model, when the caller trained it already.
    """
    halves = split_place(reportable(setup.new, setup.base))
    source = setup.base[0].source
    reported: list[int] = []
    result = k0 or train(setup.base, options)
    rows = [curve_row(halves, reported, result, source, options, repeats, setup.base)]
    say(curve_line(setup.name, "rounds", rows[-1]))
    for number in range(1, rounds + 1):
        picks = error_round(halves, reported, spam_probability_of(result), result.threshold, number)
        if len(picks) < ROUND_SIZE:
            say(f"{setup.name} | round {number}: only {len(picks)} errors left in the first half")
        if not picks:
            break
        reported += picks
        result = train(setup.base, options, as_reports(halves.pool, reported))
        rows.append(curve_row(halves, reported, result, source, options, repeats, setup.base))
        rows[-1]["round"] = number
        say(curve_line(setup.name, "rounds", rows[-1]))
    return rows


def random_curve(
    setup: Setup,
    options: TrainOptions,
    ks: Sequence[int] = RANDOM_KS,
    repeats: int = 1,
    say: Callable = print,
    seed: int = SPLIT_SEED,
    k0: TrainingResult | None = None,
) -> list[dict[str, Any]]:
    """One row per k of random reports (``random_reports``, drawn with ``seed``), MCC on the
    second half (``k0``: the corpus's model for k = 0, when the caller trained it already).

    Each row also gives MCC on the whole place minus the reports (``new_rest``): how the
    curve was scored before the halves, once, so the two can be compared.
    """
    halves = split_place(reportable(setup.new, setup.base))
    source = setup.base[0].source
    rows = []
    for k in ks:
        reported = random_reports(halves, k, seed)
        if k == 0 and k0 is not None:
            result = k0
        else:
            result = train(setup.base, options, as_reports(halves.pool, reported))
        row = curve_row(halves, reported, result, source, options, repeats, setup.base)
        chosen = set(reported)
        rest = [m for i, m in enumerate(halves.pool) if i not in chosen]
        row["new_rest"] = score(result.vectorizer, result.classifier, result.threshold, rest)["mcc"]
        rows.append(row)
        say(curve_line(setup.name, "random", rows[-1]))
    return rows


def curve_line(name: str, how: str, row: dict[str, Any]) -> str:
    """One point of a curve as the run prints it."""
    line = (
        f"{name} | {how:>6} k={row['k']:>3} ({row['reported_spam']} spam) "
        f"new MCC {row['new']['mcc']:.3f} rec {row['new']['recall']:.3f} "
        f"hb {100 * row['new']['ham_blocked']:.2f}% | base MCC {row['base']['mcc']:.4f} "
        f"hb {100 * row['base']['ham_blocked']:.2f}% | {row['model']} thr {row['threshold']:.3f} "
        f"| {row['seconds']:.0f} s"
    )
    if "base_repeats" in row:
        rep = row["base_repeats"]
        line += (
            f" | base over seeds: MCC {rep['mcc']['mean']:.4f}±{rep['mcc']['std']:.4f}, "
            f"hb {100 * rep['ham_blocked']['mean']:.2f}%"
        )
    return line


def markdown(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """Every curve as one table: new-place and base MCC for every setup, way and k."""
    lines = [
        "| setup | reports | k | spam reported | new MCC | new recall | new ham blocked "
        "| base MCC | base MCC, 5 seeds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, curves in results.items():
        for how, rows in curves.items():
            for r in rows:
                seeds = r.get("base_repeats", {}).get("mcc", {}).get("mean")
                lines.append(
                    f"| {name} | {how} | {r['k']} | {r['reported_spam']} | "
                    f"{r['new']['mcc']:.3f} | {r['new']['recall']:.3f} | "
                    f"{100 * r['new']['ham_blocked']:.2f} % | {r['base']['mcc']:.4f} | "
                    f"{'' if seeds is None else f'{seeds:.4f}'} |"
                )
    return "\n".join(lines)


def add_run_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    """The options every curve's command shares: data, output folder, setups, training."""
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--setups", nargs="+", default=["a", "b"], choices=["a", "b", "c"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="the narrowed grid (QUICK)")


def run_options(args: argparse.Namespace) -> TrainOptions:
    """The trainer's options those arguments ask for."""
    options = TrainOptions(folds=args.folds, n_jobs=args.n_jobs, baseline=False)
    return replace(options, **QUICK) if args.quick else options


def save_curves(
    out: Path,
    stem: str,
    results: dict[str, dict[str, list[dict[str, Any]]]],
    table: Callable[[dict[str, dict[str, list[dict[str, Any]]]]], str],
) -> None:
    """Each setup's curves as JSON and every curve as one Markdown table, under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, curves in results.items():
        (out / f"{stem}-{name[0]}.json").write_text(json.dumps(curves, indent=2) + "\n")
    (out / f"{stem}.md").write_text(table(results) + "\n")


def say(line: str) -> None:
    """A point as soon as it is measured: the runs take hours."""
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adaptation", description=__doc__)
    add_run_arguments(parser, "build/adaptation")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of error reports (0: none)")
    parser.add_argument("--random", type=int, nargs="*", default=list(RANDOM_KS[1:]))
    parser.add_argument("--repeats", type=int, default=1, help="seeds for the base's figures")
    args = parser.parse_args(argv)
    options = run_options(args)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    started = time.perf_counter()
    for setup in setups(args.data, args.setups):
        k0 = train(setup.base, options)  # both curves start from it
        curves: dict[str, list[dict[str, Any]]] = {}
        if args.rounds:
            curves["rounds"] = rounds_curve(setup, options, args.rounds, args.repeats, say, k0)
        if args.random:
            ks = sorted({0, *args.random})
            curves["random"] = random_curve(setup, options, ks, args.repeats, say, k0=k0)
        results[setup.name] = curves
        save_curves(args.out, "adaptation", results, markdown)
    print(markdown(results))
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The adaptation curve (issue #14): how a model learns from k reports from a new place.

Offline, with the trainer's own functions: for each setup, the model trained on the base
corpus (k = 0) and retrained with k = 50, 200, 500 reports (``train(..., feedback=)``),
picked stratified at random or among the k = 0 model's errors
(:func:`bench.adaptation_reports.pick_reports`), scored on the rest of the new place and,
for the base corpus, on its own holdout (the trainer's per-source report). Run::

    python -m bench.adaptation --out build/adaptation [--setups a b c] [--repeats 5]

Setups: (a) SMS, SpamAssassin new; (b) SpamAssassin, SMS new; (c) SpamAssassin easy_ham,
easy_ham_2 and spam, with hard_ham and spam_2 new. ``--repeats`` also gives the base
corpus's holdout figures as mean and std over seeds for setup (a)'s random reports.
Not part of ``make bench``: the whole run takes tens of minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.adaptation_reports import (
    STRATEGIES,
    as_reports,
    pick_reports,
    reportable,
    score,
    unpicked,
)
from trainer.data import Message, load_email_dir, load_sources
from trainer.repeats import repeat_protocol
from trainer.train import TrainOptions, train

__all__ = ["KS", "Setup", "curve", "main", "setups"]

KS = (0, 50, 200, 500)
#: ``--quick``: a narrowed grid for the email-based setups, whose full grid costs about ten
#: minutes a point on 2 cores (C 300 is what CV chose for email in the full combined run).
QUICK = {
    "grid": ({"C": 30.0, "class_weight": None}, {"C": 300.0, "class_weight": None}),
    "expert_grid": ({"C": 30.0, "class_weight": None}, {"C": 300.0, "class_weight": None}),
    "gate_grid": ({"C": 100.0},),
    "gate_sharpness": (1.0, 4.0),
}
PICK_SEED = 7
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


def _base_report(metrics: dict[str, Any], source: str) -> dict[str, Any]:
    return metrics.get("holdout_per_source", {}).get(source, metrics["holdout"])


def _row(strategy: str, k: int, picked: list[int], pool: list[Message], result: Any, source: str):
    rest = unpicked(pool, picked)
    new = score(result.vectorizer, result.classifier, result.threshold, rest)
    base = _base_report(result.metrics, source)
    keys = ("mcc", "recall", "ham_blocked", "accuracy")
    return {
        "strategy": strategy,
        "k": k,
        "reported": len(picked),
        "reported_spam": sum(pool[i].label == "spam" for i in picked),
        "scored": len(rest),
        "threshold": result.threshold,
        "model": type(result.classifier).__name__,
        "new": {key: new[key] for key in keys},
        "base": {key: base[key] for key in keys},
        "seconds": result.metrics["timing_s"]["total"],
        "cv": _cv_record(result.metrics),
    }


def _cv_record(metrics: dict[str, Any]) -> dict[str, Any]:
    """What CV saw (training part only): per-source out-of-fold figures and the choice."""
    cv = metrics["cv"]
    record = {
        "threshold": cv["selected"]["threshold"],
        "per_source": cv["selected"].get("per_source", {}),
        "params": metrics["model"]["params"],
    }
    feedback = cv.get("experts", {}).get("feedback")
    if feedback:
        record["feedback_candidates"] = feedback["candidates"]
    return record


def curve(setup: Setup, options: TrainOptions, repeats: int = 1) -> list[dict[str, Any]]:
    """Every (strategy, k) row of one setup; k = 0 is one row shared by both strategies."""
    pool = reportable(setup.new, setup.base)
    source = setup.base[0].source
    first = train(setup.base, options)
    features = first.vectorizer.transform([m.text for m in pool])
    flagged = first.classifier.predict_proba(features)[:, 1] >= first.threshold
    wrong = [bool(f) != (m.label == "spam") for f, m in zip(flagged, pool, strict=True)]
    rows = [_row("-", 0, [], pool, first, source)]
    if repeats > 1:
        rows[0]["base_repeats"] = repeat_protocol(setup.base, options, first.metrics, repeats)
    _say(setup.name, rows[-1])
    for strategy in STRATEGIES:
        for k in KS[1:]:
            picked = pick_reports(pool, k, PICK_SEED, strategy, wrong)
            reports = as_reports(pool, picked)
            result = train(setup.base, options, reports)
            rows.append(_row(strategy, k, picked, pool, result, source))
            if repeats > 1 and strategy == "random":
                rows[-1]["base_repeats"] = repeat_protocol(
                    setup.base, options, result.metrics, repeats, reports
                )
            _say(setup.name, rows[-1])
    return rows


def _say(name: str, row: dict[str, Any]) -> None:
    line = (
        f"{name} | {row['strategy']:>6} k={row['k']:>3} ({row['reported_spam']} spam) "
        f"new MCC {row['new']['mcc']:.3f} rec {row['new']['recall']:.3f} "
        f"hb {100 * row['new']['ham_blocked']:.2f}% | base MCC {row['base']['mcc']:.4f} "
        f"| {row['model']} thr {row['threshold']:.3f} | {row['seconds']:.0f} s"
    )
    if "base_repeats" in row:
        rep = row["base_repeats"]["holdout_per_source"] or {}
        figures = next(iter(rep.values()), row["base_repeats"]["holdout"])
        if row["k"] == 0:
            figures = row["base_repeats"]["holdout"]
        line += " | base over seeds: " + ", ".join(
            f"{key} {v['mean']:.4f}±{v['std']:.4f}" for key, v in figures.items()
        )
    print(line, flush=True)


def markdown(results: dict[str, list[dict[str, Any]]]) -> str:
    """The curve as a table: new-place and base MCC for every setup, strategy and k."""
    lines = [
        "| setup | reports | k | spam reported | new MCC | new recall | new ham blocked "
        "| base MCC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rows in results.items():
        for r in rows:
            lines.append(
                f"| {name} | {r['strategy']} | {r['k']} | {r['reported_spam']} | "
                f"{r['new']['mcc']:.3f} | {r['new']['recall']:.3f} | "
                f"{100 * r['new']['ham_blocked']:.2f} % | {r['base']['mcc']:.4f} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adaptation", description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("build/adaptation"))
    parser.add_argument("--setups", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="seeds for setup a's base figures")
    parser.add_argument("--quick", action="store_true", help="the narrowed grid (QUICK)")
    args = parser.parse_args(argv)
    options = TrainOptions(folds=args.folds, n_jobs=args.n_jobs, baseline=False)
    if args.quick:
        options = replace(options, **QUICK)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {}
    started = time.perf_counter()
    for setup in setups(args.data, args.setups):
        repeats = args.repeats if setup.name.startswith("a") else 1
        results[setup.name] = curve(setup, options, repeats)
        tag = setup.name[0]
        (args.out / f"adaptation-{tag}.json").write_text(json.dumps(results[setup.name], indent=2))
    (args.out / "adaptation.md").write_text(markdown(results) + "\n")
    print(markdown(results))
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

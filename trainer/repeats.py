"""``train --repeats N``: the evaluation protocol over N seeds, each figure as mean and std.

One holdout of 128 SMS spam moves recall by 0.008 per message, so a single seed cannot
tell a real change from the luck of the split. Repeats only report: the published model
is the one the documented seed trained.

Seeds are ``seed, seed + 1, ..., seed + N - 1``; the first run is the published one.
Each other seed runs the whole protocol again (deduplication, its own holdout split,
its own CV folds for the out-of-fold threshold, refit, one score on its holdout) with
the model selection narrowed to what the published run chose: its setting (one model),
or its experts' settings, gate regularisation and sharpness (a mixture; with two
media choosing different settings, each medium picks between those two again). A
narrowed run on the published seed gives the published figures (a setting's
out-of-fold scores do not depend on the rest of the grid), so every seed is scored by
one protocol at a fraction of the grid's cost. The tutorial baseline is not repeated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from chalicelib.capture_format import CaptureRecord
from chalicelib.feedback_format import Report

from trainer.data import Message
from trainer.train import TrainOptions, train

__all__ = ["FIGURES", "narrowed_options", "repeat_protocol", "spread"]

#: The holdout figures given as mean and standard deviation.
FIGURES = ("accuracy", "precision", "recall", "f1", "mcc", "ham_blocked")


def narrowed_options(options: TrainOptions, metrics: Mapping[str, Any]) -> TrainOptions:
    """``options`` with every grid cut down to what the run behind ``metrics`` chose."""
    params = metrics["model"]["params"]
    if "experts" in params:
        settings = list({repr(p): dict(p) for p in params["experts"].values()}.values())
        gate = params["gate"]
        return replace(
            options,
            expert_grid=tuple(settings),
            gate_grid=({"C": gate["C"], "class_weight": gate.get("class_weight")},),
            gate_sharpness=(gate["sharpness"],),
            baseline=False,
        )
    return replace(options, grid=(dict(params),), baseline=False)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for a single value).

    >>> spread([0.9, 1.0])
    {'mean': 0.95, 'std': 0.070711}
    """
    array = np.asarray(values, dtype=float)
    std = float(np.std(array, ddof=1)) if array.size > 1 else 0.0
    return {"mean": round(float(np.mean(array)), 6), "std": round(std, 6)}


def _figures(report: Mapping[str, Any]) -> dict[str, float]:
    return {key: float(report[key]) for key in FIGURES}


def repeat_protocol(
    messages: Sequence[Message],
    options: TrainOptions,
    metrics: Mapping[str, Any],
    repeats: int,
    feedback: Sequence[Report] = (),
    captures: Sequence[CaptureRecord] = (),
) -> dict[str, Any]:
    """The ``repeats`` record of ``metrics.json``; ``metrics`` is the published run's.

    Returns the seeds, what a repeat does, every run's holdout figures (overall and per
    source) and their mean and standard deviation.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    narrow = narrowed_options(options, metrics)
    seeds = [options.seed + i for i in range(repeats)]
    runs = [metrics]
    for seed in seeds[1:]:
        runs.append(train(messages, replace(narrow, seed=seed), feedback, captures).metrics)
    per_run = [
        {
            "seed": seed,
            "threshold": float(run["model"]["threshold"]),
            "holdout": _figures(run["holdout"]),
            "holdout_per_source": {
                name: _figures(r) for name, r in run.get("holdout_per_source", {}).items()
            },
        }
        for seed, run in zip(seeds, runs, strict=True)
    ]
    sources = list(per_run[0]["holdout_per_source"])
    return {
        "seeds": seeds,
        "what": (
            "the protocol once per seed (split, CV folds, out-of-fold threshold, refit, "
            "holdout) with model selection narrowed to the published run's choice; "
            "std is the sample standard deviation over seeds"
        ),
        "holdout": {k: spread([r["holdout"][k] for r in per_run]) for k in FIGURES},
        "holdout_per_source": {
            name: {k: spread([r["holdout_per_source"][name][k] for r in per_run]) for k in FIGURES}
            for name in sources
        },
        "threshold": spread([r["threshold"] for r in per_run]),
        "runs": per_run,
    }

"""`train --repeats N`: each figure as mean and std over N seeds; the model is unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trainer.cli import EXIT_OK, main
from trainer.data import load_sources
from trainer.experts import _gate_settings
from trainer.repeats import FIGURES, narrowed_options, repeat_protocol
from trainer.train import TrainOptions, train

FAST = ["--folds", "3", "--n-jobs", "1"]


pytestmark = pytest.mark.usefixtures("trainer_env")


def test_repeats_report_mean_and_std_and_publish_the_same_model(small_sms, tmp_path, capsys):
    plain, repeated = tmp_path / "plain", tmp_path / "repeated"
    assert main(["train", "--data", str(small_sms), "--out", str(plain), *FAST]) == EXIT_OK
    argv = ["train", "--data", str(small_sms), "--out", str(repeated), "--repeats", "3"]
    assert main([*argv, *FAST]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "over 3 seeds (42-44), mean ± std:" in printed
    for name in ("spam_model.pkl", "vectorizer.pkl"):
        assert (plain / name).read_bytes() == (repeated / name).read_bytes()
    first = json.loads((plain / "metrics.json").read_text())
    second = json.loads((repeated / "metrics.json").read_text())
    assert "repeats" not in first
    assert first["holdout"] == second["holdout"]
    repeats = second["repeats"]
    assert repeats["seeds"] == [42, 43, 44]
    runs = repeats["runs"]
    assert runs[0]["holdout"] == {k: first["holdout"][k] for k in FIGURES}
    for key in FIGURES:
        values = [run["holdout"][key] for run in runs]
        assert repeats["holdout"][key]["mean"] == pytest.approx(np.mean(values), abs=1e-6)
        assert repeats["holdout"][key]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-6)
    assert len({run["threshold"] for run in runs}) > 1  # other seeds, other splits and folds


def test_a_narrowed_run_on_the_published_seed_gives_the_published_figures(small_sms) -> None:
    """Why repeats may skip the grid: a setting's out-of-fold scores ignore the rest of it."""
    messages = load_sources([str(small_sms)])
    options = TrainOptions(folds=3, n_jobs=1, baseline=False)
    full = train(messages, options)
    narrow = narrowed_options(options, full.metrics)
    assert len(narrow.grid) == 1
    again = train(messages, narrow)
    assert again.threshold == full.threshold
    assert again.metrics["holdout"] == full.metrics["holdout"]
    with pytest.raises(ValueError, match="at least 1"):
        repeat_protocol(messages, options, full.metrics, 0)


def test_a_narrowed_mixture_keeps_each_experts_choice_and_the_gates() -> None:
    metrics = {
        "model": {
            "params": {
                "experts": {
                    "sms": {"C": 10.0, "class_weight": None},
                    "feedback": {"C": 30.0, "class_weight": None},
                },
                "gate": {"C": 100.0, "class_weight": "balanced", "sharpness": 4.0},
            }
        }
    }
    narrow = narrowed_options(TrainOptions(), metrics)
    assert narrow.expert_grid == (
        {"C": 10.0, "class_weight": None},
        {"C": 30.0, "class_weight": None},
    )
    assert narrow.gate_grid == ({"C": 100.0, "class_weight": "balanced"},)
    assert narrow.gate_sharpness == (4.0,)
    # with reports the gate is balanced whatever the narrowed grid says
    assert _gate_settings(narrow.gate_grid, ("feedback",)) == narrow.gate_grid
    del metrics["model"]["params"]["gate"]["class_weight"]  # a run from before reports
    unweighted = narrowed_options(TrainOptions(), metrics).gate_grid
    assert _gate_settings(unweighted, ()) == ({"C": 100.0, "class_weight": None},)
    assert _gate_settings(unweighted, ("feedback",)) == ({"C": 100.0, "class_weight": "balanced"},)

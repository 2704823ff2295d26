"""The run keeps going past a failed measurement, and only that makes the exit non-zero."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bench import __main__ as cli
from bench import runner
from bench.settings import BenchSettings
from bench.table import Row, not_measured


@pytest.fixture
def settings(tmp_path) -> BenchSettings:
    return replace(BenchSettings(), build_dir=tmp_path / "build", results_dir=tmp_path / "results")


def _fake_steps(monkeypatch, *, fail: bool, partial: bool = False) -> None:
    def slow_figure(ctx, shared):
        return [Row("3", "batch", ours="1 msg/s", result="MISS")]

    def broken(ctx, shared):
        raise RuntimeError("no layer\nsecond line")

    def half(ctx, shared):
        return [Row("7", "train", ours="1 s"), not_measured("7", "tutorial", "boom")]

    steps = [("3", "batch", slow_figure)]
    if fail:
        steps.insert(0, ("4", "cold", broken))
    if partial:
        steps.append(("7", "train", half))
    monkeypatch.setattr(runner, "STEPS", steps)


def test_a_missed_target_is_not_a_failure(monkeypatch, settings) -> None:
    _fake_steps(monkeypatch, fail=False)
    outcome = runner.run(settings)
    assert outcome.failures == []
    assert [r.result for r in outcome.rows] == ["MISS"]


def test_a_failed_step_becomes_a_row_and_rows_are_sorted(monkeypatch, settings) -> None:
    _fake_steps(monkeypatch, fail=True, partial=True)
    outcome = runner.run(settings)
    assert [r.section for r in outcome.rows] == ["3", "4", "7", "7"]
    cold = outcome.rows[1]
    assert cold.result == "NOT MEASURED"
    assert cold.notes == "RuntimeError: no layer"
    assert len(outcome.failures) == 2  # the crashed step and the partial one


def test_cli_exit_codes_and_files(monkeypatch, settings, capsys) -> None:
    monkeypatch.setattr(cli, "BenchSettings", lambda: settings)
    _fake_steps(monkeypatch, fail=False)
    assert cli.main([]) == 0
    printed = capsys.readouterr().out
    assert "| 3 | batch | 1 msg/s |" in printed
    assert (settings.results_dir / "latest.md").read_text().strip() == printed.strip()
    saved = json.loads((settings.results_dir / "latest.json").read_text())
    assert [(row["section"], row["ours"]) for row in saved["rows"]] == [("3", "1 msg/s")]
    assert saved["meta"]["failures"] == []
    _fake_steps(monkeypatch, fail=True)
    assert cli.main([]) == 1
    saved = json.loads((settings.results_dir / "latest.json").read_text())
    assert saved["meta"]["failures"] == ["4. cold: RuntimeError: no layer\nsecond line"]


def test_unknown_section_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--only", "42"])
    assert exc.value.code == 2


def test_title_names_machine_date_and_wall_time() -> None:
    meta = {
        "date_utc": "2026-11-25 19:30 UTC",
        "machine": "CPU, 2 cores",
        "commit": "abc123",
        "wall_seconds": 412.3,
        "load_average_1min": {"start": "0.5", "end": "1.0"},
        "quick": False,
    }
    text = runner.title(meta)
    for needle in ("2026-11-25 19:30 UTC", "CPU, 2 cores", "abc123", "412 s", "0.5"):
        assert needle in text

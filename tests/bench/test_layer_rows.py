"""Layers per architecture, the python3.11 baseline and their rows, without building a layer."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import cold, layers, runner, sizes
from bench.layers import LayerInfo
from bench.settings import REPO_ROOT, BenchSettings
from vendor_build.build import REPORT_NAME

BASELINE = REPO_ROOT / "bench" / "baseline-py311-requirements.txt"
OLD_PINS = {
    "scikit-learn": "1.7.2",
    "numpy": "2.2.6",
    "scipy": "1.16.3",
    "joblib": "1.6.0",
    "threadpoolctl": "3.8.0",
    "cloudpickle": "3.1.3",
}


def _report(python: str, arch: str, installed: dict[str, str]) -> dict:
    target = {"python_version": python, "architecture": arch}
    return {"extra": {"target": target, "installed": installed}}


def test_the_baseline_is_the_old_python311_layer(tmp_path: Path) -> None:
    layer = layers.baseline_layer(BASELINE, "3.11", tmp_path)
    assert layer.pins() == OLD_PINS  # every pin of the file, and nothing it does not pin
    assert "narwhals" not in layer.packages  # scikit-learn 1.7 never imported it
    assert layer.out_dir == tmp_path / "layer-py311"
    argv = layer.build_argv()
    assert argv[argv.index("--python-version") + 1] == "3.11"
    assert argv[argv.index("--arch") + 1] == "x86_64"
    assert argv[argv.index("--requirements") + 1] == str(BASELINE)
    assert argv[argv.index("--packages") + 1].split(",") == list(OLD_PINS)
    assert layers.describe(layer, REPO_ROOT) == (
        "scikit-learn 1.7.2, numpy 2.2.6, scipy 1.16.3 "
        "(bench/baseline-py311-requirements.txt), manylinux2014_x86_64"
    )
    assert BenchSettings().baseline_requirements == BASELINE


def test_our_layer_per_architecture_is_where_make_layer_puts_it(tmp_path: Path) -> None:
    x86, arm = layers.our_layer(tmp_path), layers.our_layer(tmp_path, "arm64")
    assert (x86.out_dir, arm.out_dir) == (tmp_path / "build/layer", tmp_path / "build/layer-arm64")
    assert (x86.label, arm.label) == ("python3.13 x86_64", "python3.13 arm64")
    assert arm.build_argv()[arm.build_argv().index("--arch") + 1] == "arm64"


def test_a_cached_layer_counts_only_for_its_python_arch_and_pins() -> None:
    pins = {"scikit-learn": "1.9.1", "numpy": "2.5.5"}
    installed = {"scikit_learn": "1.9.1", "numpy": "2.5.5", "scipy": "1.18.1"}
    assert layers.is_current(_report("3.13", "arm64", installed), "3.13", "arm64", pins)
    assert not layers.is_current(_report("3.11", "arm64", installed), "3.13", "arm64", pins)
    assert not layers.is_current(_report("3.13", "x86_64", installed), "3.13", "arm64", pins)
    older = {**installed, "numpy": "2.2.6"}
    assert not layers.is_current(_report("3.13", "arm64", older), "3.13", "arm64", pins)
    missing = {"scikit_learn": "1.9.1"}
    assert not layers.is_current(_report("3.13", "arm64", missing), "3.13", "arm64", pins)
    assert not layers.is_current({}, "3.13", "arm64", pins)  # a report from before targets
    assert not layers.is_current({"extra": {"target": "x"}}, "3.13", "arm64", pins)


def _write_layer(layer: layers.TrimmedLayer, installed: dict[str, str], payload: bytes) -> None:
    layer.out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(layer.zip_path, "w") as archive:
        archive.writestr("python/x.bin", payload)
    report = _report(layer.python, layer.arch, installed)
    (layer.out_dir / REPORT_NAME).write_text(json.dumps(report))


def test_ensure_reuses_a_current_build_and_rebuilds_a_stale_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = layers.baseline_layer(BASELINE, "3.11", tmp_path / "build")
    builds: list[list[str]] = []

    def fake_build(argv: list[str], *, cwd: Path, log: Path) -> None:
        builds.append(argv)
        _write_layer(layer, OLD_PINS, b"rebuilt" * 10)

    monkeypatch.setattr(layers, "_run_logged", fake_build)
    _write_layer(layer, OLD_PINS, b"cached")
    info = layers.ensure_trimmed_layer(
        layer, tmp_path / "snap", rebuild=False, log=tmp_path / "log", cwd=tmp_path
    )
    assert builds == []
    assert (info.unzipped_bytes, info.label) == (6, "python3.11 x86_64")
    assert info.origin == "cached build/layer-py311/sklearn-layer.zip"
    assert info.zip_path.parent == tmp_path / "snap"

    _write_layer(layer, {**OLD_PINS, "scikit-learn": "1.9.1"}, b"cached")  # another stack's
    info = layers.ensure_trimmed_layer(
        layer, tmp_path / "snap", rebuild=False, log=tmp_path / "log", cwd=tmp_path
    )
    assert builds == [layer.build_argv()]
    assert info.unzipped_bytes == 70
    assert info.origin.startswith("built in this run")


def _info(label: str, unzipped: int, zipped: int) -> LayerInfo:
    return LayerInfo("ours", Path("x.zip"), unzipped, zipped, "cached", label)


def test_size_rows_cover_both_architectures_against_the_same_limits() -> None:
    x86 = _info("python3.13 x86_64", 138_560_482, 47_825_582)
    arm = _info("python3.13 arm64", 150_000_001, 46_245_199)
    tutorial = _info("python3.13 x86_64", 255_900_000, 82_400_000)
    rows = sizes.rows(x86, tutorial, None, None, None, [arm])
    by_measure = {row.measure: row for row in rows}
    assert list(by_measure) == [
        "layer unzipped, python3.13 x86_64",
        "layer zipped, python3.13 x86_64",
        "layer unzipped, python3.13 arm64",
        "layer zipped, python3.13 arm64",
    ]
    unzipped = by_measure["layer unzipped, python3.13 arm64"]
    assert (unzipped.target, unzipped.result) == ("≤ 150 MB", "MISS")  # one byte over
    assert unzipped.baseline == "python3.13 x86_64 138.6 MB (138,560,482 B)"
    assert unzipped.ratio == "1.08×"
    zipped = by_measure["layer zipped, python3.13 arm64"]
    assert (zipped.target, zipped.result, zipped.ratio) == ("≤ 50 MB", "PASS", "0.97×")
    alone = sizes.rows(None, None, None, None, None, [arm])  # x86_64 failed to build
    assert [row.baseline for row in alone] == ["—", "—"]
    assert [row.ratio for row in alone] == ["—", "—"]


def _samples(**medians: float) -> dict[str, list[dict[str, float]]]:
    keys = ("total_ms", "interpreter_ms", "import_ms", "first_call_ms")
    return {name: [dict.fromkeys(keys, ms)] * 3 for name, ms in medians.items()}


def test_the_baseline_row_gives_both_floors_and_new_over_old() -> None:
    samples = _samples(floor=450.0, floor_baseline=360.0)
    row = cold.baseline_row(samples, "NEW STACK", "OLD STACK")
    assert (row.section, row.measure) == ("4", cold.BASELINE_MEASURE)
    assert (row.ours, row.baseline, row.ratio) == ("450 ms", "python3.11 layer 360 ms", "1.25×")
    assert row.target == "—"  # a baseline, not a target
    assert "new: NEW STACK" in row.notes and "old: OLD STACK" in row.notes
    assert row.raw["old_median_ms"] == 360.0


class _FakeContext:
    def __init__(self, settings: BenchSettings) -> None:
        self.settings = settings
        self.log_dir = settings.build_dir / "logs"


def test_a_broken_baseline_costs_only_its_own_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(BenchSettings(), build_dir=tmp_path / "bench")
    layer_info = _info("python3.13 x86_64", 1, 1)
    monkeypatch.setattr(runner, "_layers", lambda ctx: (layer_info, layer_info))
    monkeypatch.setattr(runner, "_deployment", lambda ctx: tmp_path / "deployment.zip")
    monkeypatch.setattr(layers, "ensure_trimmed_layer", lambda *a, **k: layer_info)
    monkeypatch.setattr(runner, "_interpreter", lambda version: f"python {version}.0")
    calls: list[object] = []

    def measure(ctx, ours, tutorial, deployment, baseline=None):
        calls.append(baseline)
        if baseline is not None:
            raise RuntimeError("python3.11 could not import sklearn")
        return _samples(ours=500.0, floor=450.0, tutorial=1700.0, tutorial_floor=1500.0)

    monkeypatch.setattr(runner.cold_step, "measure", measure)
    rows = runner._cold(_FakeContext(settings), {})
    assert calls[0] is not None and calls[1] is None  # measured again without the old layer
    assert [row.result for row in rows] == ["PASS", "—", "—", "NOT MEASURED"]
    assert rows[-1].measure == cold.BASELINE_MEASURE
    assert "could not import sklearn" in rows[-1].notes

    def working(ctx, ours, tutorial, deployment, baseline=None):
        samples = _samples(ours=500.0, floor=450.0, tutorial=1700.0, tutorial_floor=1500.0)
        return {**samples, **_samples(floor_baseline=400.0)}

    monkeypatch.setattr(runner.cold_step, "measure", working)
    rows = runner._cold(_FakeContext(settings), {})
    last = rows[-1]
    assert (last.measure, last.ratio) == (cold.BASELINE_MEASURE, "1.12×")
    assert "scikit-learn 1.7.2" in last.notes and "python 3.11.0" in last.notes
    assert "scikit-learn 1.9.1" in last.notes and "python 3.13.0" in last.notes


def test_a_layer_that_fails_for_one_architecture_keeps_the_other_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = replace(BenchSettings(), build_dir=tmp_path / "bench")
    layer_info = _info("python3.13 x86_64", 1, 1)
    monkeypatch.setattr(runner, "_layers", lambda ctx: (layer_info, layer_info))
    monkeypatch.setattr(runner, "_deployment", lambda ctx: None)

    def no_arm64(ctx, arch):
        raise RuntimeError(f"no {arch} wheels")

    monkeypatch.setattr(runner, "_other_arch_layer", no_arm64)
    ctx = SimpleNamespace(settings=settings, manifest=lambda: None)
    monkeypatch.setattr(runner, "_artifact_sizes", lambda ctx: (None, None))
    rows = runner._sizes(ctx, {})
    assert [row.result for row in rows][-1] == "NOT MEASURED"
    assert rows[-1].measure == "layer, python3.13 arm64"
    assert "no arm64 wheels" in rows[-1].notes
    assert rows[0].measure == "layer unzipped, python3.13 x86_64"

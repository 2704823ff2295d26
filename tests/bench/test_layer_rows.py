"""Layers per architecture, the python3.11 baseline and their rows, without building a layer."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench import cold, layers, runner, sizes
from bench.context import BenchContext
from bench.layers import LayerInfo
from bench.settings import REPO_ROOT, BenchSettings
from tests.support import opaque_bundle
from trainer.registry import publish
from vendor_build.build import REPORT_NAME
from vendor_build.pins import runtime_pins

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


# -- the cold and size steps, on a repository whose layers earlier runs built ---------------
#
# Nothing is faked but what would take minutes: the layer builds (their cached output is on
# disk, as a previous `make bench` leaves it), the deployment package (the sizes step's, in
# the run's cache) and the cold-start sandboxes (``cold.measure``).

OUR_BYTES, TUTORIAL_BYTES, BASELINE_BYTES = 7_000, 19_000, 5_000
TARGET_MEASURES = [
    "cold start → first /predict (trimmed layer, packaged app, model from local S3)",
    "cold start → first /predict vs the tutorial's system",
    "cold import floor, trimmed layer vs untrimmed tutorial layer",
]


def _zip(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/x.bin", payload)
    return path


@pytest.fixture
def bench_ctx(tmp_path: Path) -> Iterator[BenchContext]:
    """A run's context on a copy of the repository: our x86_64 layer and the tutorial's are
    cached builds of today's pins, the deployment package is in the run's cache; the old
    layer is a python3.13 one here, so that its interpreter is one this machine has."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copyfile(REPO_ROOT / "requirements-train.txt", repo / "requirements-train.txt")
    settings = replace(
        BenchSettings(), repo=repo, build_dir=repo / "build" / "bench", baseline_python="3.13"
    )
    ours = layers.our_layer(repo)
    _write_layer(ours, ours.pins(), b"o" * OUR_BYTES)
    tutorial_dir = settings.build_dir / "tutorial-layer"
    _zip(tutorial_dir / "sklearn-layer.zip", b"t" * TUTORIAL_BYTES)
    stamp = json.dumps(runtime_pins(repo / "requirements-train.txt"))
    (settings.build_dir / "tutorial-layer.stamp").write_text(stamp)
    deployment = _zip(tmp_path / "deployment.zip", b"d" * 3_000)
    with contextlib.ExitStack() as stack:
        ctx = BenchContext(settings, stack)
        ctx.cached("deployment", lambda: deployment)
        yield ctx


def _cached_baseline(ctx: BenchContext) -> None:
    old = runner._baseline_layer(ctx)
    _write_layer(old, old.pins(), b"b" * BASELINE_BYTES)


def _samples_with(**medians: float) -> dict[str, list[dict[str, float]]]:
    target = {"ours": 500.0, "floor": 450.0, "tutorial": 1700.0, "tutorial_floor": 1500.0}
    return _samples(**{**target, **medians})


def test_a_baseline_that_cannot_be_built_costs_only_its_own_row(
    bench_ctx: BenchContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Python 3.99 layer can be built (vendor_build refuses it, for real): the target's
    rows are measured without the old layer, and the baseline's row says why."""
    bench_ctx.settings = replace(bench_ctx.settings, baseline_python="3.99")
    calls: list[object] = []

    def measure(ctx, ours, tutorial, deployment, baseline=None):
        calls.append(baseline)
        return _samples_with()

    monkeypatch.setattr(runner.cold_step, "measure", measure)
    rows = runner._cold(bench_ctx, {})
    assert calls == [None]
    assert [row.measure for row in rows] == [*TARGET_MEASURES, cold.BASELINE_MEASURE]
    assert [row.result for row in rows] == ["PASS", "—", "—", "NOT MEASURED"]
    assert rows[-1].notes.startswith("RuntimeError: ")
    assert re.search(r"-m vendor_build build failed \(\d+\):$", rows[-1].notes), rows[-1].notes


def test_a_baseline_that_fails_to_run_is_measured_again_without_it(
    bench_ctx: BenchContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cached_baseline(bench_ctx)
    calls: list[object] = []

    def measure(ctx, ours, tutorial, deployment, baseline=None):
        calls.append(baseline)
        if baseline is not None:
            raise RuntimeError("python3.11 could not import sklearn\nTraceback ...")
        return _samples_with(ours=900.0)  # the second measurement's figures are the ones shown

    monkeypatch.setattr(runner.cold_step, "measure", measure)
    rows = runner._cold(bench_ctx, {})
    assert len(calls) == 2 and calls[1] is None
    assert calls[0].zip_path.read_bytes() == (  # the cached old layer, snapshotted
        runner._baseline_layer(bench_ctx).zip_path.read_bytes()
    )
    assert [row.measure for row in rows] == [*TARGET_MEASURES, cold.BASELINE_MEASURE]
    assert [row.result for row in rows] == ["MISS", "—", "—", "NOT MEASURED"]  # 900 / 450
    assert rows[-1].notes == "RuntimeError: python3.11 could not import sklearn"


def test_the_baseline_row_names_both_layers_and_the_interpreters_that_ran_them(
    bench_ctx: BenchContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cached_baseline(bench_ctx)
    monkeypatch.setattr(
        runner.cold_step, "measure", lambda *a, **k: _samples_with(floor_baseline=400.0)
    )
    rows = runner._cold(bench_ctx, {})
    assert [row.measure for row in rows] == [*TARGET_MEASURES, cold.BASELINE_MEASURE]
    last = rows[-1]
    assert (last.ours, last.baseline, last.ratio) == ("450 ms", "python3.11 layer 400 ms", "1.12×")
    # each layer's pins and wheels, and the version its interpreter reported when asked
    assert re.fullmatch(
        r"scikit-learn 1\.9\.1, numpy 2\.5\.5, scipy 1\.18\.1 \(requirements-train\.txt\), "
        r"manylinux_2_28_x86_64, python 3\.13\.\d+",
        last.raw["new"],
    )
    assert re.fullmatch(
        r"scikit-learn 1\.7\.2, numpy 2\.2\.6, scipy 1\.16\.3 \(\S*baseline-py311-requirements"
        r"\.txt\), manylinux_2_28_x86_64, python 3\.13\.\d+",
        last.raw["old"],
    )
    assert f"new: {last.raw['new']}; old: {last.raw['old']}" in last.notes


def test_a_layer_that_fails_for_one_architecture_keeps_the_other_rows(
    bench_ctx: BenchContext, s3_client, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """arm64's build fails; x86_64's layer rows, the package and the pickles are all measured."""
    api = bench_ctx.settings.api_dir / ".chalice"
    api.mkdir(parents=True)
    local = {"environment_variables": {"MODEL_BUCKET": bucket, "MODEL_PREFIX": "models/"}}
    (api / "config.json").write_text(json.dumps({"stages": {"local": local}}))
    bench_ctx.cached("s3", lambda: s3_client)
    bundle = opaque_bundle("1.9.1", "bench")
    publish(s3_client, bucket, "models/", bundle)
    s3_client.put_object(Bucket=bucket, Key="vectorizer.pkl", Body=b"v" * 300)
    s3_client.put_object(Bucket=bucket, Key="spam_model.pkl", Body=b"m" * 700)

    def failed_build(argv: list[str], *, cwd: Path, log: Path) -> None:
        assert argv[argv.index("--arch") + 1] == "arm64"  # x86_64's cached build is reused
        raise RuntimeError("python -m vendor_build build failed (1):\nno aarch64 wheel")

    monkeypatch.setattr(layers, "_run_logged", failed_build)
    rows = {row.measure: row for row in runner._sizes(bench_ctx, {})}
    assert list(rows) == [
        "layer unzipped, python3.13 x86_64",
        "layer zipped, python3.13 x86_64",
        "deployment.zip (`chalice package`), zipped / unzipped",
        "model artifacts (vectorizer.pkl + spam_model.pkl)",
        "layer, python3.13 arm64",
    ]
    failed = rows["layer, python3.13 arm64"]
    assert (failed.result, failed.notes) == (
        "NOT MEASURED",
        "RuntimeError: python -m vendor_build build failed (1):",
    )
    assert rows["layer unzipped, python3.13 x86_64"].raw == {
        "ours": OUR_BYTES,
        "tutorial": TUTORIAL_BYTES,
    }
    assert rows["deployment.zip (`chalice package`), zipped / unzipped"].raw["with_layer"] == (
        3_000 + OUR_BYTES
    )
    sizes = {"vectorizer.pkl": len(bundle.vectorizer_pkl), "spam_model.pkl": len(bundle.model_pkl)}
    assert rows["model artifacts (vectorizer.pkl + spam_model.pkl)"].raw == {
        "ours": sizes,
        "tutorial": {"vectorizer.pkl": 300, "spam_model.pkl": 700},
    }

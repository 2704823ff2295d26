"""Run the measurements in a sensible order, keep going past failures, assemble the table.

Order: training first (it publishes the model everything else serves), then the
in-process measurements while the machine is quiet, then the layer builds (network and
CPU heavy) and what needs them, then the HTTP load. The table is sorted by the issue's
numbering. A measurement that raises becomes a NOT MEASURED row and makes the run exit
non-zero; a slow figure never does.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import (
    adaptation_loop,
    capture_cost,
    chalice_config,
    cost,
    layers,
    metrics_cost,
    sizes,
    training,
)
from bench import batch as batch_step
from bench import cold as cold_step
from bench import http_load as http_step
from bench import quality as quality_step
from bench import warm as warm_step
from bench.context import BenchContext
from bench.settings import BenchSettings
from bench.table import Row, not_measured, render_json, render_markdown, write_results
from vendor_build.runtime import PYTHON_VERSION
from vendor_build.sandbox import find_python
from vendor_build.smoke import chalice_package
from vendor_build.targets import ARCHITECTURES

__all__ = ["STEPS", "RunOutcome", "machine_description", "run"]

Step = Callable[[BenchContext, dict[str, Any]], list[Row]]


def _training(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    return training.rows(training.measure(ctx))


def _quality(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    return quality_step.rows(quality_step.measure(ctx))


def _warm(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    shared["warm"] = warm_step.measure(ctx)
    return warm_step.rows(shared["warm"])


def _cost(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    if "warm" not in shared:
        raise RuntimeError("needs the warm latency samples, which were not measured")
    memory, source = chalice_config.memory_size(ctx.config, ctx.stage)
    warm = shared["warm"]
    return cost.rows(warm["ours"], warm["tutorial"], memory, source)


def _batch(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    return batch_step.rows(batch_step.measure(ctx))


def _adaptation(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    if not ctx.settings.with_spamassassin:
        return []  # the new place is SpamAssassin
    result = adaptation_loop.curves("a", (100,), 2, ctx.settings.data_dir, queue_rounds=2)
    return adaptation_loop.rows(result)


def _layers(ctx: BenchContext) -> tuple[layers.LayerInfo, layers.LayerInfo]:
    s = ctx.settings
    return ctx.cached(
        "layers",
        lambda: (
            layers.ensure_our_layer(
                s.repo, s.build_dir, rebuild=s.rebuild, log=ctx.log_dir / "layer.log"
            ),
            layers.ensure_tutorial_layer(
                s.repo, s.build_dir, rebuild=s.rebuild, log=ctx.log_dir / "tutorial-layer.log"
            ),
        ),
    )


def _other_arch_layer(ctx: BenchContext, arch: str) -> layers.LayerInfo:
    """Our python3.13 layer for ``arch`` (built, never run: arm64's import is checked by
    ``make layer ARCH=arm64`` under emulation, whose timings mean nothing)."""
    s = ctx.settings
    return ctx.cached(
        f"layer-{arch}",
        lambda: layers.ensure_our_layer(
            s.repo, s.build_dir, rebuild=s.rebuild, log=ctx.log_dir / f"layer-{arch}.log", arch=arch
        ),
    )


def _baseline_layer(ctx: BenchContext) -> layers.TrimmedLayer:
    s = ctx.settings
    return layers.baseline_layer(s.baseline_requirements, s.baseline_python, s.build_dir)


def _interpreter(version: str) -> str:
    """``python 3.11.7``: the exact interpreter a variant ran on."""
    python = find_python(version)
    done = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return f"python {done.stdout.strip()}"


def _deployment(ctx: BenchContext) -> Path:
    """The deployment.zip Lambda would run (``chalice package``, as the smoke test makes it)."""
    out_dir = ctx.settings.build_dir / "package"

    def package() -> Path:
        shutil.rmtree(out_dir, ignore_errors=True)
        return chalice_package(ctx.settings.api_dir, out_dir, stage=ctx.stage).deployment_zip

    return ctx.cached("deployment", package)


def _sizes(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    ours, tutorial = _layers(ctx)
    others, missing = [], []
    for arch in ARCHITECTURES:
        if arch == "x86_64":
            continue
        try:
            others.append(_other_arch_layer(ctx, arch))
        except Exception as exc:  # its own NOT MEASURED row; x86_64's rows stand
            missing.append(not_measured("5", f"layer, python3.13 {arch}", _reason(exc)))
    our_artifacts, tutorial_artifacts = _artifact_sizes(ctx)
    deployment = _deployment(ctx)
    out = sizes.rows(ours, tutorial, deployment, our_artifacts, tutorial_artifacts, others)
    return out + missing


def _artifact_sizes(ctx: BenchContext) -> tuple[dict[str, int], dict[str, int]]:
    """Bytes of our published pickles and of the tutorial's, by file name."""
    manifest = ctx.manifest()
    our_artifacts = {
        name: manifest.artifacts[role].size
        for role, name in (("vectorizer", "vectorizer.pkl"), ("model", "spam_model.pkl"))
    }
    tutorial_artifacts = {
        key: ctx.s3().head_object(Bucket=ctx.bucket, Key=key)["ContentLength"]
        for key in ("vectorizer.pkl", "spam_model.pkl")
    }
    return our_artifacts, tutorial_artifacts


def _cold(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    ours, tutorial = _layers(ctx)
    s = ctx.settings
    old = _baseline_layer(ctx)
    baseline, failed = None, None
    try:
        built = layers.ensure_trimmed_layer(
            old, s.build_dir, rebuild=s.rebuild, log=ctx.log_dir / "layer-baseline.log", cwd=s.repo
        )
        description = f"{layers.describe(old, s.repo)}, {_interpreter(old.python)}"
        baseline = cold_step.BaselineLayer(built.zip_path, old.python, description)
    except Exception as exc:  # its own NOT MEASURED row; the target's rows stand
        failed = not_measured("4", cold_step.BASELINE_MEASURE, _reason(exc))
    measure = partial(cold_step.measure, ctx, ours.zip_path, tutorial.zip_path, _deployment(ctx))
    try:
        samples = measure(baseline)
    except Exception as exc:
        if baseline is None:
            raise
        # measured again without it, so the old layer cannot cost the target's rows
        traceback.print_exc(file=sys.stderr)
        baseline, failed = None, not_measured("4", cold_step.BASELINE_MEASURE, _reason(exc))
        samples = measure(None)
    out = cold_step.rows(samples)
    if baseline is None:
        return [*out, failed] if failed else out
    new = f"{layers.describe(layers.our_layer(s.repo), s.repo)}, {_interpreter(PYTHON_VERSION)}"
    return [*out, cold_step.baseline_row(samples, new, baseline.description)]


def _reason(exc: Exception) -> str:
    """The first line of an exception, as a NOT MEASURED row gives it."""
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]


def _metrics_cost(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    return metrics_cost.rows(metrics_cost.measure(ctx))


def _capture_cost(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    return capture_cost.rows(capture_cost.measure(ctx))


def _http(ctx: BenchContext, shared: dict[str, Any]) -> list[Row]:
    return http_step.rows(http_step.measure(ctx))


#: (section, name, function), in the order they run.
STEPS: list[tuple[str, str, Step]] = [
    ("7", "training wall time", _training),
    ("1", "quality", _quality),
    ("2", "warm latency", _warm),
    ("8", "cost per million requests", _cost),
    ("3", "batch throughput", _batch),
    ("10", "metrics' cost to a warm answer", _metrics_cost),
    ("11", "capture's cost to a warm answer", _capture_cost),
    ("5", "sizes", _sizes),
    ("4", "cold start", _cold),
    ("6", "chalice local over HTTP", _http),
    ("9", "adaptation curve through the feedback loop and the labelling queue", _adaptation),
]


class RunOutcome:
    """The rows, the metadata and whether anything could not be measured."""

    def __init__(self, rows: list[Row], meta: dict[str, Any], failures: list[str]) -> None:
        self.rows = rows
        self.meta = meta
        self.failures = failures


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return None


def machine_description() -> str:
    """One line: CPU, cores, memory, OS, Python: the context every figure needs."""
    mem = _memory_gib()
    parts = [
        _cpu_model(),
        f"{os.cpu_count()} cores",
        f"{mem:.0f} GiB" if mem else "",
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}",
    ]
    return ", ".join(p for p in parts if p)


def _git_commit(repo: Any) -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _load_average() -> str:
    """1-minute load average: other work on the machine skews absolute figures."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def run(settings: BenchSettings, only: set[str] | None = None, quick: bool = False) -> RunOutcome:
    """Run the steps (all, or the sections in ``only``), never stopping at a failure."""
    started = time.perf_counter()
    load_before = _load_average()
    rows: list[Row] = []
    failures: list[str] = []
    shared: dict[str, Any] = {}
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        ctx = BenchContext(settings, stack)
        for section, name, step in STEPS:
            if only and section not in only:
                continue
            print(f"[bench] {section}. {name} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                step_rows = step(ctx, shared)
                rows.extend(step_rows)
                failures.extend(
                    f"{section}. {row.measure}: {row.notes}"
                    for row in step_rows
                    if row.result == "NOT MEASURED"
                )
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}".strip()
                first_line = reason.splitlines()[0][:300]
                rows.append(not_measured(section, name, first_line))
                failures.append(f"{section}. {name}: {reason}")
                traceback.print_exc(file=sys.stderr)
            timings[f"{section}. {name}"] = round(time.perf_counter() - t0, 2)
            print(
                f"[bench] {section}. {name}: {timings[f'{section}. {name}']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    rows.sort(key=lambda r: int(r.section))
    meta = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_description(),
        "commit": _git_commit(settings.repo),
        "quick": quick,
        "load_average_1min": {"start": load_before, "end": _load_average()},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "step_seconds": timings,
        "failures": failures,
    }
    return RunOutcome(rows, meta, failures)


def title(meta: dict[str, Any]) -> str:
    """The line above the table: when, where, which commit, how long."""
    quick = " — QUICK run (small samples)" if meta.get("quick") else ""
    load = meta.get("load_average_1min", {})
    return (
        f"**`make bench`** — {meta['date_utc']} — {meta['machine']} — commit {meta['commit']} "
        f"— bench wall time {meta['wall_seconds']:.0f} s — load average "
        f"{load.get('start', '?')} at start, {load.get('end', '?')} at end{quick}"
    )


def publish(outcome: RunOutcome, settings: BenchSettings) -> str:
    """Render, write ``bench/results/latest.{md,json}`` and return the markdown."""
    markdown = render_markdown(outcome.rows, title=title(outcome.meta))
    write_results(settings.results_dir, markdown, render_json(outcome.rows, outcome.meta))
    return markdown

"""4. Cold start: fresh interpreters, layer read-only on the path, no bytecode writes.

Each sample is a new ``python -I -S -B`` process (``vendor_build.sandbox``, as the layer
check and the Lambda smoke test use) that sees only the standard library, a folder
standing for ``/var/task`` (the unzipped ``deployment.zip``, or the tutorial's handler), a
folder standing for ``/opt`` (the unzipped layer, read-only) and the runtime's own boto3,
in Lambda's order. Timed from just before the process is spawned to the moment the first
``/predict`` response exists, with the model pulled from the local moto S3 server.

Variants, interleaved run by run so drift hits all alike, every other round in reverse
order (one discarded run first):

- ours: our trimmed layer + the packaged Chalice app;
- floor: the same interpreter and layer, importing only joblib and the two classes;
- tutorial floor: the same imports from the untrimmed tutorial layer;
- tutorial: the tutorial's handler on its own layer, pickles from the bucket root;
- baseline floor: the floor's imports from the old python3.11 layer (scikit-learn 1.7),
  run by a python3.11, when that layer is given: what the move to python3.13 cost or saved.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench import layers
from bench.context import BenchContext
from bench.events import proxy_event
from bench.stats import percentile, ratio, verdict
from bench.table import Row, fmt_ms, fmt_ratio
from vendor_build.sandbox import SandboxSpec, find_python, run_sandbox, runtime_sdk_dir

__all__ = [
    "BASELINE_MEASURE",
    "TARGET_VS_FLOOR",
    "BaselineLayer",
    "baseline_row",
    "measure",
    "rows",
]

TARGET_VS_FLOOR = 1.25
#: What the floor imports: joblib and the modules of the model's two classes.
FLOOR_IMPORTS = ("joblib", "sklearn.feature_extraction.text", "sklearn.linear_model")
TUTORIAL_HANDLER = Path(__file__).resolve().parent / "tutorial_handler.py"
BASELINE_MEASURE = "cold import floor, python3.13 layer vs the old python3.11 layer"


@dataclass(frozen=True)
class BaselineLayer:
    """The old layer's zip, the Python it targets and what the table says it holds."""

    zip_path: Path
    python: str
    description: str


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """A small, Lambda-like environment: no PYTHON* leakage, no bytecode writes."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TZ") if k in os.environ}
    return {**keep, **extra, "PYTHONDONTWRITEBYTECODE": "1", "LAMBDA_TASK_ROOT": "/var/task"}


def _sample(spec: SandboxSpec, env: dict[str, str], python: str) -> dict[str, float]:
    """One fresh interpreter; returns its phases in ms, after checking what it did."""
    run = run_sandbox(spec, env=env, python=python, timeout=120)
    report = run.report
    sklearn_file = report["files"].get("sklearn") or ""
    if not sklearn_file.startswith(str(spec.opt)):
        raise RuntimeError(f"scikit-learn came from {sklearn_file!r}, not the layer in {spec.opt}")
    if spec.handler:
        response = report["responses"][0]["response"]
        body = json.loads(response["body"]) if response else {}
        if response is None or response.get("statusCode") != 200 or "classification" not in body:
            raise RuntimeError(f"first /predict ({spec.handler}) was not a success: {response}")
    return {
        "total_ms": (report["t_done"] - run.started) * 1000,
        "interpreter_ms": (report["t_start"] - run.started) * 1000,
        "import_ms": (report["t_init"] - report["t_start"]) * 1000,
        "first_call_ms": (report["t_done"] - report["t_init"]) * 1000,
    }


def measure(
    ctx: BenchContext,
    our_layer: Path,
    tutorial_layer: Path,
    deployment: Path,
    baseline: BaselineLayer | None = None,
) -> dict:
    """Run every variant (``floor_baseline`` only with ``baseline``); samples (ms) per variant."""
    build = ctx.settings.build_dir
    opt_ours = layers.extract_read_only(our_layer, build / "opt-ours")
    opt_tut = layers.extract_read_only(tutorial_layer, build / "opt-tutorial")
    runtime = runtime_sdk_dir(build / "runtime")  # /var/runtime's boto3 stack
    task_ours = layers.unzip_task(deployment, build / "task-ours")
    task_tut = build / "task-tutorial"
    if task_tut.exists():
        shutil.rmtree(task_tut)
    task_tut.mkdir(parents=True)
    shutil.copy2(TUTORIAL_HANDLER, task_tut / "lambda_function.py")

    event = proxy_event("POST", "/predict", {"text": "WINNER!! Claim your free prize now"})
    app_env = _child_env(ctx.app_env())
    s3_env = _child_env(ctx.s3_env())

    context = {"function_name": "spam-api-bench"}
    ours = SandboxSpec(
        opt_ours, task_ours, runtime, handler="app.app", events=[event], context=context
    )
    tutorial = SandboxSpec(
        opt_tut,
        task_tut,
        runtime,
        handler="lambda_function.lambda_handler",
        init="lambda_function.load_from_s3",  # what the tutorial did at import time
        init_args=[ctx.bucket],
        events=[event],
        context=context,
    )
    variants: dict[str, tuple[SandboxSpec, dict[str, str], int]] = {
        "ours": (ours, app_env, ctx.settings.cold_runs),
        "floor": (
            SandboxSpec(opt_ours, task_ours, runtime, imports=FLOOR_IMPORTS),
            app_env,
            ctx.settings.cold_runs,
        ),
        "tutorial_floor": (
            SandboxSpec(opt_tut, task_tut, runtime, imports=FLOOR_IMPORTS),
            s3_env,
            ctx.settings.cold_runs_tutorial,
        ),
        "tutorial": (tutorial, s3_env, ctx.settings.cold_runs_tutorial),
    }
    if baseline is not None:
        opt_old = layers.extract_read_only(baseline.zip_path, build / "opt-baseline")
        old_floor = SandboxSpec(
            opt_old, task_ours, runtime, python_version=baseline.python, imports=FLOOR_IMPORTS
        )
        variants["floor_baseline"] = (old_floor, app_env, ctx.settings.cold_runs)
    # each interpreter found once, outside the timed runs
    pythons = {
        spec.python_version: find_python(spec.python_version) for spec, *_ in variants.values()
    }
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    rounds = max(v[2] for v in variants.values())
    for spec, env, _runs in variants.values():  # discarded: first touch after extraction
        _sample(spec, env, pythons[spec.python_version])
    order = list(variants)
    for run in range(rounds):
        # every other round in reverse, so no variant always follows the same one (the
        # previous process's exit and the moto server's work overlap the next start)
        for name in order if run % 2 == 0 else order[::-1]:
            spec, env, runs = variants[name]
            if run < runs:
                samples[name].append(_sample(spec, env, pythons[spec.python_version]))
    return samples


def _median(samples: list[dict[str, float]], key: str = "total_ms") -> float:
    return percentile([s[key] for s in samples], 50)


def baseline_row(samples: dict[str, list[dict[str, float]]], new: str, old: str) -> Row:
    """The python3.13 layer's import floor against the old python3.11 layer's, same run.

    ``new`` and ``old`` say what each layer holds and which interpreter ran it.
    """
    floor = _median(samples["floor"])
    old_floor = _median(samples["floor_baseline"])
    return Row(
        "4",
        BASELINE_MEASURE,
        ours=fmt_ms(floor),
        baseline=f"python3.11 layer {fmt_ms(old_floor)}",
        ratio=fmt_ratio(ratio(floor, old_floor)),
        notes=(
            f"medians of {len(samples['floor'])} and {len(samples['floor_baseline'])} fresh "
            f"processes, interleaved; the floor's imports, the same trimming; new: {new}; "
            f"old: {old}"
        ),
        raw={"new_median_ms": floor, "old_median_ms": old_floor, "new": new, "old": old},
    )


def rows(samples: dict[str, list[dict[str, float]]]) -> list[Row]:
    """Ours against the import floor (the target) and against the tutorial's system."""
    ours = _median(samples["ours"])
    floor = _median(samples["floor"])
    tut = _median(samples["tutorial"])
    tut_floor = _median(samples["tutorial_floor"])
    vs_floor = ratio(ours, floor)
    phases = ", ".join(
        f"{label} {fmt_ms(_median(samples['ours'], key))}"
        for label, key in (
            ("interpreter", "interpreter_ms"),
            ("import+S3 load", "import_ms"),
            ("first call", "first_call_ms"),
        )
    )
    raw = {name: {"median_total_ms": _median(s), "samples": s} for name, s in samples.items()}
    return [
        Row(
            "4",
            "cold start → first /predict (trimmed layer, packaged app, model from local S3)",
            ours=fmt_ms(ours),
            baseline=f"import floor {fmt_ms(floor)}",
            ratio=fmt_ratio(vs_floor),
            target=f"≤ {TARGET_VS_FLOOR}× floor",
            result=verdict(vs_floor, TARGET_VS_FLOOR, at_most=True),
            notes=(
                f"median of {len(samples['ours'])} fresh `python -I -S -B` processes; "
                f"floor = joblib + TfidfVectorizer + LogisticRegression from the same layer; "
                f"ours: {phases}"
            ),
            raw=raw,
        ),
        Row(
            "4",
            "cold start → first /predict vs the tutorial's system",
            ours=fmt_ms(ours),
            baseline=f"tutorial handler on untrimmed layer {fmt_ms(tut)}",
            ratio=fmt_ratio(ratio(ours, tut)),
            notes=(
                f"median of {len(samples['tutorial'])}; the tutorial layer's pip .pyc are stale "
                f"once unzipped (mtimes), so it compiles at every start"
            ),
        ),
        Row(
            "4",
            "cold import floor, trimmed layer vs untrimmed tutorial layer",
            ours=fmt_ms(floor),
            baseline=f"tutorial layer {fmt_ms(tut_floor)}",
            ratio=fmt_ratio(ratio(floor, tut_floor)),
            notes="what shipping valid bytecode (and trimming) buys on every cold start",
        ),
    ]

"""3. Batch: messages per second through ``/predict/batch`` (100 texts) vs single ``/predict``.

Both go through the real Chalice app with API Gateway events, in this process, in
alternating rounds: 100 single calls, then one batch of the same 100 texts; then the same
with the bare model (no handler), to show what batching gains the model itself. Vectorising
100 texts at once amortises the per-call overhead, which is the point of the route.
"""

from __future__ import annotations

import time
from typing import Any

from bench.context import BenchContext
from bench.events import proxy_event
from bench.stats import percentile, ratio, throughput, verdict
from bench.table import Row, fmt_rate, fmt_ratio
from vendor_build.lambda_events import response_json
from vendor_build.lambda_sandbox import LambdaContext

__all__ = ["TARGET_SPEEDUP", "measure", "rows"]

TARGET_SPEEDUP = 10.0


def _results_of(response: dict[str, Any], expected: int) -> list[Any]:
    """The per-text results of a batch response, checked for count and status."""
    body = response_json(response)
    if response.get("statusCode") != 200:
        raise RuntimeError(f"/predict/batch answered {response.get('statusCode')}: {body}")
    results = body.get("results") if isinstance(body, dict) else body
    if not isinstance(results, list) or len(results) != expected:
        got = len(results) if isinstance(results, list) else type(results).__name__
        raise RuntimeError(f"/predict/batch returned {got} results for {expected} texts")
    return results


def measure(ctx: BenchContext) -> dict[str, Any]:
    """Rates per round, single and batch; the median round is reported."""
    with ctx.app_stdout():  # the app's metric lines
        return _rates(ctx)


def _rates(ctx: BenchContext) -> dict[str, Any]:
    settings = ctx.settings
    size = settings.batch_size
    app = ctx.our_app()
    lam = LambdaContext()
    texts = ctx.sample_texts()
    vectorizer, model = ctx.our_pipeline()
    single_rates: list[float] = []
    batch_rates: list[float] = []
    floor_single: list[float] = []
    floor_batch: list[float] = []
    _results_of(app(proxy_event("POST", "/predict/batch", {"texts": texts[:size]}), lam), size)
    for round_index in range(settings.batch_rounds + 1):
        start_at = (round_index * size) % max(1, len(texts) - size)
        chunk = texts[start_at : start_at + size]
        singles = [proxy_event("POST", "/predict", {"text": t}) for t in chunk]
        batch = proxy_event("POST", "/predict/batch", {"texts": chunk})
        t0 = time.perf_counter()
        for event in singles:
            app(event, lam)
        t1 = time.perf_counter()
        response = app(batch, lam)
        t2 = time.perf_counter()
        for text in chunk:
            model.predict_proba(vectorizer.transform([text]))
        t3 = time.perf_counter()
        model.predict_proba(vectorizer.transform(chunk))
        t4 = time.perf_counter()
        _results_of(response, size)
        if round_index == 0:
            continue  # warm-up round
        single_rates.append(throughput(size, t1 - t0))
        batch_rates.append(throughput(size, t2 - t1))
        floor_single.append(throughput(size, t3 - t2))
        floor_batch.append(throughput(size, t4 - t3))
    return {
        "single": single_rates,
        "batch": batch_rates,
        "floor_single": floor_single,
        "floor_batch": floor_batch,
        "batch_size": size,
    }


def rows(result: dict[str, Any]) -> list[Row]:
    """One row: batch msgs/s against single-call msgs/s."""
    single = percentile(result["single"], 50)
    batch = percentile(result["batch"], 50)
    floor_single = percentile(result["floor_single"], 50)
    floor_batch = percentile(result["floor_batch"], 50)
    speedup = ratio(batch, single)
    return [
        Row(
            "3",
            f"throughput, /predict/batch ({result['batch_size']} texts) vs single /predict",
            ours=fmt_rate(batch),
            baseline=f"single {fmt_rate(single)}",
            ratio=fmt_ratio(speedup),
            target=f"≥ {TARGET_SPEEDUP:.0f}× per message",
            result=verdict(speedup, TARGET_SPEEDUP, at_most=False),
            notes=f"in-process via API Gateway events; median of {len(result['batch'])} rounds",
            raw={"single_msgs_per_s": single, "batch_msgs_per_s": batch, **result},
        ),
        Row(
            "3",
            "same, bare model (transform + predict_proba of 100 texts vs 100 × 1 text)",
            ours=fmt_rate(floor_batch),
            baseline=f"single {fmt_rate(floor_single)}",
            ratio=fmt_ratio(ratio(floor_batch, floor_single)),
            notes=(
                "what batching gains the model itself: the per-call costs amortise; "
                "what remains per text is counting its n-grams"
            ),
        ),
    ]

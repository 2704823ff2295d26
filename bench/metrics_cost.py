"""10. What the metrics cost a warm answer: the same app with ``METRICS_ENABLED`` on and off.

Both variants are the real Chalice app called as Lambda calls it (as in section 2), with
the model loaded, interleaved call by call in one run: before each call the process's
settings are switched to the variant's (``use_settings``, which both pay alike). With
metrics on, every answer's lines are built and written to stdout, here a log file, as
the app writes them on Lambda (one system call per answer). The ratio is the median call
with metrics on over the median with them off; the microseconds are the median of the
paired differences (each round's on minus its off).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.context import BenchContext
from bench.events import check_scored, proxy_event
from bench.interleaved import time_interleaved
from bench.stats import paired_median, ratio, summarize, verdict
from bench.table import Row, fmt_ms, fmt_ratio
from vendor_build.lambda_sandbox import LambdaContext

__all__ = ["TARGET", "measure", "rows"]

#: The issue's bound: metrics add at most 5 % to a warm answer.
TARGET = 1.05


def _events(ctx: BenchContext) -> dict[str, list[dict[str, Any]]]:
    """API Gateway events per route: single texts, and batches of ``batch_size`` texts."""
    texts = ctx.sample_texts()
    size = ctx.settings.batch_size
    batches = [texts[start : start + size] for start in range(0, len(texts) - size + 1, size)]
    return {
        "/predict": [proxy_event("POST", "/predict", {"text": t}) for t in texts],
        "/predict/batch": [proxy_event("POST", "/predict/batch", {"texts": b}) for b in batches],
    }


def measure(ctx: BenchContext) -> dict[str, Any]:
    """Per route, the milliseconds of each call with metrics on and off (paired by round)."""
    app = ctx.our_app()
    from chalicelib.settings import get_settings, use_settings  # the app's, once imported

    served = get_settings()
    variants = {
        "on": replace(served, metrics_enabled=True),
        "off": replace(served, metrics_enabled=False),
    }
    lam = LambdaContext()
    iterations = {
        "/predict": ctx.settings.metrics_iterations,
        "/predict/batch": ctx.settings.metrics_batch_iterations,
    }
    samples: dict[str, Any] = {}
    try:
        with ctx.app_stdout():
            for route, events in _events(ctx).items():

                def call(settings: Any, events: list[dict[str, Any]] = events) -> Any:
                    def one(i: int) -> Any:
                        use_settings(settings)
                        return app(events[i % len(events)], lam)

                    return one

                calls = {name: call(settings) for name, settings in variants.items()}
                check_scored(calls["on"](0))
                samples[route] = time_interleaved(
                    calls, iterations[route], warmup=max(10, iterations[route] // 15)
                )
                check_scored(calls["on"](0))
    finally:
        use_settings(served)
    return {"samples": samples, "batch_size": ctx.settings.batch_size}


def rows(result: dict[str, Any]) -> list[Row]:
    """One row per route: on ÷ off, and the microseconds the metrics add."""
    out = []
    for route, label in (
        ("/predict", "warm /predict"),
        ("/predict/batch", f"warm /predict/batch of {result['batch_size']}"),
    ):
        on, off = result["samples"][route]["on"], result["samples"][route]["off"]
        added_us = paired_median(on, off) * 1000.0
        s_on, s_off = summarize(on), summarize(off)
        r = ratio(s_on.median, s_off.median)
        out.append(
            Row(
                "10",
                f"metrics' cost to a {label}, in-process (METRICS_ENABLED on ÷ off)",
                ours=f"{fmt_ms(s_on.median)} (+{added_us:.0f} µs)",
                baseline=f"metrics off {fmt_ms(s_off.median)}",
                ratio=fmt_ratio(r),
                target=f"≤ {TARGET:.2f}×",
                result=verdict(r, TARGET, at_most=True),
                notes=(
                    f"{s_on.n} interleaved calls each, SMS texts; on: the answer's EMF lines "
                    "built and written to a file; µs = median of paired differences"
                ),
                raw={
                    "on": s_on.as_dict(),
                    "off": s_off.as_dict(),
                    "added_us_median_paired": added_us,
                },
            )
        )
    return out

"""11. What capture costs a warm ``/predict``: at ``CAPTURE_RATE`` 0.01, and per captured call.

The real Chalice app called as Lambda calls it (as in sections 2 and 10), with the model
loaded and the metric lines written to a file, in variants of its runtime installed before
each call (which every variant pays alike). Two interleaved runs, call by call:

- capture off against capture at 1 %: each call gets a request id of its own, so the 1 %
  variant draws a fresh sample (about one call in a hundred; the calls it drew are known
  from their ids) and the rest pay only the decision;
- capture off against capture of every message: each call writes its record, with the
  API's own capture client, to the bench's local S3 (the moto server over loopback): the
  extra latency of a captured call on its own, as the median of the paired differences.

Apart, because a call that follows a write shares the machine with the S3 server still
finishing it: in one run of three variants, the one that follows the writing variant more
often would pay for it.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

from bench.context import BenchContext
from bench.events import check_scored, proxy_event
from bench.interleaved import time_interleaved
from bench.stats import paired_median, ratio, summarize
from bench.table import Row, fmt_ms, fmt_ratio
from vendor_build.lambda_sandbox import LambdaContext

__all__ = ["RATE", "measure", "rows"]

#: The sampled share the issue asks about.
RATE = 0.01


def _request_id(variant: str, i: int) -> str:
    return f"bench-capture-{variant}-{i}"


def measure(ctx: BenchContext) -> dict[str, Any]:
    """Milliseconds of each call per variant (paired by round), and which 1 % calls drew."""
    app = ctx.our_app()
    # the app's own modules, once it is imported
    from chalicelib.capture import CaptureWriter, client_settings
    from chalicelib.capture_format import uniform_draw
    from chalicelib.runtime import install_runtime, installed_runtime
    from chalicelib.s3_client import make_s3_client

    served = installed_runtime()
    if served is None or served.holder.live_now() is None:
        raise RuntimeError("the app has no model loaded")

    def variant(rate: float) -> Any:
        if rate == 0.0:
            return replace(
                served, settings=replace(served.settings, capture_rate=0.0), capture=None
            )
        settings = replace(served.settings, capture_rate=rate, capture_uncertain_rate=0.0)
        writer = CaptureWriter(
            make_s3_client(client_settings(settings)), settings.model_bucket, settings
        )
        return replace(served, settings=settings, capture=writer)

    runtimes = {"off": variant(0.0), "1%": variant(RATE), "every": variant(1.0)}
    events = [proxy_event("POST", "/predict", {"text": t}) for t in ctx.sample_texts()]
    lam = LambdaContext()

    def call(name: str) -> Any:
        runtime = runtimes[name]

        def one(i: int) -> Any:
            event = events[i % len(events)]
            event = {
                **event,
                "requestContext": {**event["requestContext"], "requestId": _request_id(name, i)},
            }
            install_runtime(runtime)
            return app(event, lam)

        return one

    calls = {name: call(name) for name in runtimes}
    iterations = ctx.settings.capture_iterations
    warmup = max(10, iterations // 15)
    kept_before = _kept(ctx, served.settings.capture_prefix)
    samples: dict[str, list[float]] = {}
    try:
        with ctx.app_stdout():
            for name in calls:
                check_scored(calls[name](-1))
            for pair in (("off", "1%"), ("off", "every")):
                timed = time_interleaved({n: calls[n] for n in pair}, iterations, warmup=warmup)
                samples[f"{pair[1]} off"], samples[pair[1]] = timed["off"], timed[pair[1]]
    finally:
        install_runtime(served)
    drawn = [i for i in range(iterations) if uniform_draw("random", _request_id("1%", i), 0) < RATE]
    return {
        "samples": samples,
        "drawn": drawn,
        "kept": _kept(ctx, served.settings.capture_prefix) - kept_before,
        "iterations": iterations,
    }


def _kept(ctx: BenchContext, prefix: str) -> int:
    """How many records the bench bucket holds under the capture prefix."""
    pages = ctx.s3().get_paginator("list_objects_v2").paginate(Bucket=ctx.bucket, Prefix=prefix)
    return sum(page.get("KeyCount", 0) for page in pages)


def rows(result: dict[str, Any]) -> list[Row]:
    """The 1 % variant ÷ off, and a drawn call's extra latency (every ÷ off)."""
    samples = result["samples"]
    off, sampled = samples["1% off"], samples["1%"]
    every_off, every = samples["every off"], samples["every"]
    s_off, s_one = summarize(off), summarize(sampled)
    s_every_off, s_every = summarize(every_off), summarize(every)
    drawn = set(result["drawn"])
    drawn_ms = [ms for i, ms in enumerate(sampled) if i in drawn]
    added_ms = paired_median(every, every_off)
    mean_ratio = ratio(s_one.mean, s_off.mean)
    return [
        Row(
            "11",
            f"capture's cost to a warm /predict at CAPTURE_RATE {RATE:g}, in-process (÷ off)",
            ours=f"{fmt_ms(s_one.median)} (mean {fmt_ms(s_one.mean)})",
            baseline=f"capture off {fmt_ms(s_off.median)} (mean {fmt_ms(s_off.mean)})",
            ratio=fmt_ratio(ratio(s_one.median, s_off.median)),
            notes=(
                f"{s_one.n} interleaved calls each, SMS texts, a request id per call; "
                f"{len(drawn)} calls drew a capture (median {fmt_ms(_median(drawn_ms))}), "
                f"the rest paid the decision; mean ratio {fmt_ratio(mean_ratio)}"
            ),
            raw={
                "off": s_off.as_dict(),
                "at_rate": s_one.as_dict(),
                "rate": RATE,
                "drawn_calls": len(drawn),
                "drawn_median_ms": _median(drawn_ms),
                "mean_ratio": mean_ratio,
            },
        ),
        Row(
            "11",
            "a captured /predict's extra latency: its record written to the bench's local S3",
            ours=f"{fmt_ms(s_every.median)} (+{fmt_ms(added_ms)})",
            baseline=f"capture off {fmt_ms(s_every_off.median)}",
            ratio=fmt_ratio(ratio(s_every.median, s_every_off.median)),
            notes=(
                f"{s_every.n} interleaved calls each, every one keeping its message "
                f"({result['kept']} records written in all, warm-up included); + = median "
                "of paired differences; one conditional PUT to moto over loopback with the "
                "API's capture client (a PUT to S3 takes longer, at most its 0.5 s timeout)"
            ),
            raw={
                "off": s_every_off.as_dict(),
                "every": s_every.as_dict(),
                "added_ms_median_paired": added_ms,
                "records_written": result["kept"],
            },
        ),
    ]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None

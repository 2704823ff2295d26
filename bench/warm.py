"""2. Warm latency: the tutorial's handler, ours (via an API Gateway event), and the floor.

All three run in this process on the same texts, interleaved request by request in a
rotating order, so drift (CPU frequency, other work on the machine) hits them equally.
Ours is the real Chalice app called as Lambda calls it, ``app(event, context)``, with its
model loaded from the local S3 registry; the floor is our model's bare
``vectorizer.transform([text])`` + ``predict_proba``: no event, no JSON, no validation.
"""

from __future__ import annotations

from typing import Any

from bench.context import BenchContext
from bench.events import check_scored, proxy_event
from bench.interleaved import time_interleaved
from bench.stats import LatencySummary, ratio, summarize, verdict
from bench.table import Row, fmt_ms, fmt_ratio
from bench.tutorial_handler import make_handler
from vendor_build.lambda_sandbox import LambdaContext

__all__ = ["TARGET_VS_TUTORIAL", "WarmResult", "measure", "rows"]

TARGET_VS_TUTORIAL = 2.0


class WarmResult(dict):
    """Per-variant samples in ms: ``{"ours": [...], "tutorial": [...], "floor": [...]}``."""


def _check_ours(response: dict[str, Any]) -> None:
    """A benchmark of an error path would flatter us: insist on a real classification."""
    body = check_scored(response, "our /predict")
    if body.get("classification") not in {"SPAM", "HAM"}:
        raise RuntimeError(f"our /predict answered without a classification: {body}")


def measure(ctx: BenchContext) -> WarmResult:
    """Time each variant ``warm_iterations`` times after ``warm_warmup`` untimed calls."""
    settings = ctx.settings
    texts = ctx.sample_texts()
    app = ctx.our_app()
    vectorizer, model = ctx.our_pipeline()
    tutorial = make_handler(*ctx.tutorial_pipeline())
    lambda_context = LambdaContext()

    def floor(text: str) -> Any:
        return model.predict_proba(vectorizer.transform([text]))

    # The events are built outside the timed region for every variant alike: API Gateway
    # hands Lambda a ready dict. Only the floor skips them (it takes the text).
    events = [proxy_event("POST", "/predict", {"text": t}) for t in texts]
    with ctx.app_stdout():
        _check_ours(app(events[0], lambda_context))
        samples = time_interleaved(
            {
                "tutorial": lambda i: tutorial(events[i % len(events)], lambda_context),
                "ours": lambda i: app(events[i % len(events)], lambda_context),
                "floor": lambda i: floor(texts[i % len(texts)]),
            },
            settings.warm_iterations,
            warmup=settings.warm_warmup,
        )
        _check_ours(app(events[0], lambda_context))
    return WarmResult(samples)


def summaries(result: WarmResult) -> dict[str, LatencySummary]:
    """Median/p99 per variant."""
    return {name: summarize(values) for name, values in result.items()}


def rows(result: WarmResult) -> list[Row]:
    """Median and p99 rows, ours against the tutorial and against the floor."""
    s = summaries(result)
    ours, tut, floor = s["ours"], s["tutorial"], s["floor"]
    vs_tutorial = ratio(ours.median, tut.median)
    raw = {name: summary.as_dict() for name, summary in s.items()}
    n = ours.n
    return [
        Row(
            "2",
            "warm /predict median, in-process (API Gateway event → handler → JSON)",
            ours=fmt_ms(ours.median),
            baseline=f"tutorial handler {fmt_ms(tut.median)}",
            ratio=fmt_ratio(vs_tutorial),
            target=f"≤ {TARGET_VS_TUTORIAL:.0f}× tutorial",
            result=verdict(vs_tutorial, TARGET_VS_TUTORIAL, at_most=True),
            notes=f"{n} interleaved requests each, SMS texts; tutorial = its own weaker model",
            raw=raw,
        ),
        Row(
            "2",
            "warm /predict p99",
            ours=fmt_ms(ours.p99),
            baseline=f"tutorial handler {fmt_ms(tut.p99)}",
            ratio=fmt_ratio(ratio(ours.p99, tut.p99)),
        ),
        Row(
            "2",
            "warm /predict median vs floor (our transform + predict_proba, no handler)",
            ours=fmt_ms(ours.median),
            baseline=f"floor {fmt_ms(floor.median)} (p99 {fmt_ms(floor.p99)})",
            ratio=fmt_ratio(ratio(ours.median, floor.median)),
            notes="the handler's own overhead: event parsing, validation, JSON, CORS",
        ),
    ]

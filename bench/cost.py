"""Cost per million requests on Lambda + API Gateway, from a measured warm duration.

Pure arithmetic with the prices as explicit inputs, so the table can print exactly what
the estimate assumed. Prices are AWS's published list prices for us-east-1 as known when
this was written (x86_64 Lambda, API Gateway REST API, first pricing tier, no free tier);
check https://aws.amazon.com/lambda/pricing/ and https://aws.amazon.com/api-gateway/pricing/
before quoting them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CostEstimate", "Prices", "billed_ms", "cost_per_million"]

MB_PER_GB = 1024  # Lambda bills memory in GB of 1024 MB


@dataclass(frozen=True)
class Prices:
    """List prices the estimate uses (USD)."""

    region: str = "us-east-1"
    lambda_gb_second: float = 0.0000166667  # x86_64, first tier
    lambda_per_million_requests: float = 0.20
    api_gateway_rest_per_million: float = 3.50  # REST API, first 333 million a month

    def as_dict(self) -> dict[str, float | str]:
        """For the JSON results file."""
        return asdict(self)


@dataclass(frozen=True)
class CostEstimate:
    """What one million warm requests cost, split by line item (USD)."""

    billed_ms: float
    memory_mb: int
    compute: float
    lambda_requests: float
    api_gateway: float

    @property
    def lambda_total(self) -> float:
        """Lambda alone (compute + request charge)."""
        return self.compute + self.lambda_requests

    @property
    def total(self) -> float:
        """Lambda plus API Gateway."""
        return self.lambda_total + self.api_gateway

    def as_dict(self) -> dict[str, float]:
        """For the JSON results file."""
        return {
            **asdict(self),
            "lambda_total": self.lambda_total,
            "total": self.total,
        }


def billed_ms(durations_ms: Sequence[float]) -> float:
    """Mean billed duration: Lambda rounds each invocation up to the next whole millisecond.

    The mean (not the median) is what a bill adds up, and rounding is per invocation,
    so a 0.3 ms handler is billed as 1 ms.

    >>> billed_ms([0.3, 1.2, 2.0])
    1.6666666666666667
    """
    if not durations_ms:
        raise ValueError("no durations to bill")
    return sum(max(1, math.ceil(d)) for d in durations_ms) / len(durations_ms)


def cost_per_million(billed: float, memory_mb: int, prices: Prices | None = None) -> CostEstimate:
    """Cost of one million requests of ``billed`` ms each at ``memory_mb``.

    >>> est = cost_per_million(10.0, 1024)
    >>> round(est.compute, 4), est.lambda_requests, est.api_gateway
    (0.1667, 0.2, 3.5)
    """
    if memory_mb <= 0:
        raise ValueError(f"memory must be positive, got {memory_mb}")
    p = prices or Prices()
    gb_seconds = 1_000_000 * (billed / 1000.0) * (memory_mb / MB_PER_GB)
    return CostEstimate(
        billed_ms=billed,
        memory_mb=memory_mb,
        compute=gb_seconds * p.lambda_gb_second,
        lambda_requests=p.lambda_per_million_requests,
        api_gateway=p.api_gateway_rest_per_million,
    )


def _usd(value: float) -> str:
    """Dollars with cents, or finer below a cent.

    >>> _usd(3.7), _usd(0.0042)
    ('$3.70', '$0.0042')
    """
    return f"${value:,.2f}" if value >= 0.01 else f"${value:.4f}"


def rows(
    ours_ms: Sequence[float],
    tutorial_ms: Sequence[float],
    memory_mb: int,
    memory_source: str,
    prices: Prices | None = None,
) -> list[Any]:
    """Table rows: cost per million for ours and the tutorial's handler, with the inputs."""
    from bench.stats import ratio
    from bench.table import Row, fmt_ratio

    p = prices or Prices()
    ours = cost_per_million(billed_ms(ours_ms), memory_mb, p)
    tut = cost_per_million(billed_ms(tutorial_ms), memory_mb, p)
    inputs = (
        f"{p.region} list prices (as known when written; an estimate): Lambda x86_64 "
        f"${p.lambda_gb_second:.10f} per GB-s + ${p.lambda_per_million_requests:.2f} per 1M "
        f"requests; API Gateway REST ${p.api_gateway_rest_per_million:.2f} per 1M; "
        f"{memory_mb} MB from config.json {memory_source}; warm invocations only "
        f"(no cold starts, no free tier, no data transfer); duration = mean of measured "
        f"warm times each rounded up to 1 ms, assuming Lambda's CPU at this memory "
        f"matches one core of this machine"
    )
    return [
        Row(
            "8",
            "cost per 1M warm requests, Lambda only (compute + requests)",
            ours=f"{_usd(ours.lambda_total)} (billed {ours.billed_ms:.2f} ms)",
            baseline=f"tutorial handler {_usd(tut.lambda_total)} (billed {tut.billed_ms:.2f} ms)",
            ratio=fmt_ratio(ratio(ours.lambda_total, tut.lambda_total)),
            notes=inputs,
            raw={"ours": ours.as_dict(), "tutorial": tut.as_dict(), "prices": p.as_dict()},
        ),
        Row(
            "8",
            "cost per 1M warm requests, with API Gateway REST",
            ours=_usd(ours.total),
            baseline=f"tutorial handler {_usd(tut.total)}",
            ratio=fmt_ratio(ratio(ours.total, tut.total)),
            notes=f"API Gateway is {ours.api_gateway / ours.total:.0%} of ours",
        ),
    ]

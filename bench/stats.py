"""Pure statistics for the benchmarks: percentiles, ratios, throughput, target verdicts.

Kept free of I/O and of numpy so the tests can check them exactly and so the cold-start
child processes (which see only the standard library and a layer) could use them too.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "LatencySummary",
    "percentile",
    "ratio",
    "summarize",
    "throughput",
    "verdict",
]


def percentile(samples: Sequence[float], q: int) -> float:
    """The ``q``-th percentile (a whole number, 0-100) with linear interpolation.

    ``statistics.quantiles`` with the inclusive method interpolates between closest ranks,
    as numpy's default does: that keeps p99 stable when the sample count changes, which a
    nearest-rank percentile does not.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> percentile([5.0], 99)
    5.0
    """
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100 or q != int(q):
        raise ValueError(f"q must be a whole number between 0 and 100, got {q}")
    if q in (0, 100) or len(samples) == 1:
        return float(min(samples) if q == 0 else max(samples))
    return float(statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1])


@dataclass(frozen=True)
class LatencySummary:
    """Median, p99 and mean of one set of timings, in the unit they were given."""

    n: int
    median: float
    p99: float
    mean: float
    minimum: float
    maximum: float

    def as_dict(self) -> dict[str, float]:
        """Plain numbers for the JSON results file."""
        return {
            "n": self.n,
            "median": self.median,
            "p99": self.p99,
            "mean": self.mean,
            "min": self.minimum,
            "max": self.maximum,
        }


def summarize(samples: Sequence[float]) -> LatencySummary:
    """Summarise timings; raise ``ValueError`` on an empty sample (nothing was measured).

    >>> summarize([1.0, 2.0, 3.0]).median
    2.0
    """
    if not samples:
        raise ValueError("no samples to summarise")
    return LatencySummary(
        n=len(samples),
        median=percentile(samples, 50),
        p99=percentile(samples, 99),
        mean=sum(samples) / len(samples),
        minimum=float(min(samples)),
        maximum=float(max(samples)),
    )


def ratio(ours: float | None, baseline: float | None) -> float | None:
    """``ours / baseline``, or ``None`` when either is missing or the baseline is zero.

    >>> ratio(3.0, 2.0)
    1.5
    >>> ratio(1.0, 0.0) is None
    True
    """
    if ours is None or baseline is None or baseline == 0:
        return None
    return ours / baseline


def paired_median(these: Sequence[float], those: Sequence[float]) -> float:
    """The median of the paired differences (each round's one minus its other).

    >>> paired_median([3.0, 5.0, 4.0], [1.0, 1.0, 1.0])
    3.0
    """
    return statistics.median(a - b for a, b in zip(these, those, strict=True))


def throughput(count: int, seconds: float) -> float:
    """Items per second; raise ``ValueError`` for a non-positive duration.

    >>> throughput(100, 0.5)
    200.0
    """
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {seconds}")
    return count / seconds


def verdict(value: float | None, target: float, *, at_most: bool) -> str:
    """``PASS`` or ``MISS`` against a target (``at_most`` for ceilings), ``n/a`` if unmeasured.

    Targets are reported, never enforced: a slow figure is information, not a failure.

    >>> verdict(1.2, 1.25, at_most=True)
    'PASS'
    >>> verdict(8.0, 10.0, at_most=False)
    'MISS'
    """
    if value is None or math.isnan(value):
        return "n/a"
    ok = value <= target if at_most else value >= target
    return "PASS" if ok else "MISS"

"""Time several callables over the same inputs, interleaved, so drift hits them alike.

CPU frequency, other work on the machine and the garbage collector change speed during a
run; calling the variants in turn, starting each round with a different one, spreads that
over all of them. The warm-latency bench times this way.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping

__all__ = ["time_interleaved"]


def time_interleaved(
    calls: Mapping[str, Callable[[int], object]], iterations: int, *, warmup: int = 0
) -> dict[str, list[float]]:
    """Milliseconds of each call over ``iterations`` rounds, after ``warmup`` untimed rounds.

    Round ``i`` calls every variant with ``i`` (to pick its input), in a rotated order.

    >>> samples = time_interleaved({"a": lambda i: i, "b": lambda i: -i}, 3, warmup=1)
    >>> {name: len(times) for name, times in samples.items()}
    {'a': 3, 'b': 3}
    """
    names = list(calls)
    for i in range(warmup):
        for name in names:
            calls[name](i)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    perf = time.perf_counter_ns
    for i in range(iterations):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start = perf()
            calls[name](i)
            samples[name].append((perf() - start) / 1e6)
    return samples

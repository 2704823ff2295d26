"""1. Quality: placeholder until the trainer's split and fit API lands."""

from __future__ import annotations

from typing import Any

from bench.context import BenchContext
from bench.table import Row

__all__ = ["measure", "rows"]


def measure(ctx: BenchContext) -> dict[str, Any]:
    """Not implemented yet."""
    raise NotImplementedError("quality needs the trainer's split API")


def rows(result: dict[str, Any]) -> list[Row]:
    """Not implemented yet."""
    return []

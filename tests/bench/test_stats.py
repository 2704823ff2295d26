"""The pure statistics the table is built from."""

from __future__ import annotations

import math

import pytest

from bench.stats import percentile, ratio, summarize, throughput, verdict


def test_percentile_interpolates_like_numpy() -> None:
    data = [10, 1, 7, 3, 5]
    assert percentile(data, 0) == 1
    assert percentile(data, 100) == 10
    assert percentile(data, 50) == 5
    assert percentile(data, 25) == 3
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_summarize_reports_median_p99_mean() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0])
    assert summary.n == 4
    assert summary.median == 2.5
    assert summary.mean == 2.5
    assert (summary.minimum, summary.maximum) == (1.0, 4.0)
    assert summary.as_dict()["p99"] == pytest.approx(3.97)
    with pytest.raises(ValueError):
        summarize([])


def test_ratio_is_none_without_a_usable_baseline() -> None:
    assert ratio(3.0, 1.5) == 2.0
    assert ratio(None, 1.0) is None
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None


def test_throughput() -> None:
    assert throughput(100, 0.25) == 400.0
    with pytest.raises(ValueError):
        throughput(1, 0.0)


@pytest.mark.parametrize(
    ("value", "target", "at_most", "expected"),
    [
        (1.25, 1.25, True, "PASS"),
        (1.26, 1.25, True, "MISS"),
        (10.0, 10.0, False, "PASS"),
        (9.9, 10.0, False, "MISS"),
        (None, 1.0, True, "n/a"),
        (math.nan, 1.0, True, "n/a"),
    ],
)
def test_verdict(value: float | None, target: float, at_most: bool, expected: str) -> None:
    assert verdict(value, target, at_most=at_most) == expected

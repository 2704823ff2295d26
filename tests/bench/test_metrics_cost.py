"""The metrics' cost rows: on ÷ off of the medians, and the paired median in microseconds."""

from __future__ import annotations

import pytest

from bench.metrics_cost import TARGET, rows


def result(single_on, single_off, batch_on, batch_off) -> dict:
    return {
        "batch_size": 100,
        "samples": {
            "/predict": {"on": single_on, "off": single_off},
            "/predict/batch": {"on": batch_on, "off": batch_off},
        },
    }


def test_rows_give_the_ratio_of_medians_and_the_paired_microseconds() -> None:
    # rounds pair up: on - off is 0.03 ms each time, whatever the drift between rounds
    single_off = [0.50, 0.60, 0.70, 0.55, 0.65]
    single_on = [v + 0.03 for v in single_off]
    batch_off = [4.0, 4.1, 4.2]
    batch_on = [v * 1.10 for v in batch_off]
    single, batch = rows(result(single_on, single_off, batch_on, batch_off))
    assert single.section == batch.section == "10"
    assert "+30 µs" in single.ours
    assert single.raw["added_us_median_paired"] == pytest.approx(30.0)
    assert single.ratio == "1.05×" and single.result == "PASS"  # 0.63 / 0.60
    assert batch.ratio == "1.10×" and batch.result == "MISS"
    assert "+410 µs" in batch.ours and "batch of 100" in batch.measure
    assert single.target == batch.target == f"≤ {TARGET:.2f}×"

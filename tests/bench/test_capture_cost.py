"""Capture's cost rows: the 1 % variant ÷ off, the drawn calls, a capture's paired extra."""

from __future__ import annotations

import pytest

from bench.capture_cost import RATE, rows


def test_rows_give_the_ratio_of_medians_the_drawn_calls_and_the_paired_extra() -> None:
    off = [0.50, 0.60, 0.70, 0.55, 0.65]
    at_rate = [0.51, 0.61, 5.70, 0.56, 0.66]  # call 2 drew a capture
    every = [v + 5.0 for v in off]  # each call's write: 5 ms more, whatever the drift
    one, captured = rows(
        {
            "samples": {"1% off": off, "1%": at_rate, "every off": off, "every": every},
            "drawn": [2],
            "kept": 7,
            "iterations": 5,
        }
    )
    assert one.section == captured.section == "11"
    assert f"CAPTURE_RATE {RATE:g}" in one.measure
    assert one.ratio == "1.02×"  # 0.61 / 0.60: the medians
    assert "1 calls drew a capture (median 5.7 ms)" in one.notes
    assert one.raw["mean_ratio"] == pytest.approx(sum(at_rate) / sum(off))
    assert captured.raw["added_ms_median_paired"] == pytest.approx(5.0)
    assert "(+5 ms)" in captured.ours and "7 records written" in captured.notes
    assert one.target == captured.target == "—"  # the issue sets no bound: reported only

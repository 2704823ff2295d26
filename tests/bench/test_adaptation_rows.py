"""The adaptation curve's bench rows: each k against k = 0, the issue's floors as targets."""

from __future__ import annotations

from bench.adaptation_loop import rows


def _point(k: int, mcc: float, base: float) -> dict:
    return {
        "k": k,
        "new": {"mcc": mcc, "recall": 0.8, "ham_blocked": 0.01},
        "base_mcc": base,
        "seconds": 1.0,
    }


def test_k200_needs_the_floor_and_every_k_keeps_the_base_source() -> None:
    curve = [_point(0, 0.2, 0.9686), _point(50, 0.7, 0.9690), _point(200, 0.86, 0.9600)]
    results = [r.result for r in rows(curve)]
    assert results == ["PASS", "PASS", "PASS"]
    curve[2] = _point(200, 0.84, 0.9686)  # under the 0.85 floor
    assert rows(curve)[2].result == "MISS"
    curve[1] = _point(50, 0.7, 0.9500)  # the base source lost more than 0.01
    assert rows(curve)[1].result == "MISS"
    assert "4.20×" in rows(curve)[2].ratio

"""The latency script keeps working (its figures are reported, never asserted)."""

from __future__ import annotations

import pytest

from .measure_latency import measure


@pytest.mark.slow
def test_measure_latency_runs(sms_collection_path) -> None:
    results = measure(calls=10, sms_path=sms_collection_path)
    assert set(results) == {
        "bare transform+predict_proba",
        "chalicelib service.predict",
        "test client POST /predict",
        "test client POST /predict explain",
    }
    assert all(figures["median_ms"] > 0 for figures in results.values())

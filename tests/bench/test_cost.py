"""Cost arithmetic: billing rounds each invocation up to 1 ms; prices are explicit inputs."""

from __future__ import annotations

import pytest

from bench.cost import Prices, billed_ms, cost_per_million, rows


def test_billed_ms_rounds_each_invocation_up() -> None:
    assert billed_ms([0.2, 0.9]) == 1.0
    assert billed_ms([1.0, 1.01]) == 1.5
    with pytest.raises(ValueError):
        billed_ms([])


def test_cost_per_million_at_one_gb() -> None:
    est = cost_per_million(1.0, 1024)
    # 1e6 requests * 1 ms * 1 GB = 1000 GB-s
    assert est.compute == pytest.approx(1000 * 0.0000166667)
    assert est.lambda_requests == 0.20
    assert est.api_gateway == 3.50
    assert est.total == pytest.approx(est.compute + 3.70)


def test_cost_scales_with_memory_and_prices_are_inputs() -> None:
    half = cost_per_million(10.0, 512)
    full = cost_per_million(10.0, 1024)
    assert half.compute == pytest.approx(full.compute / 2)
    custom = cost_per_million(
        10.0, 1024, Prices(lambda_gb_second=1.0, api_gateway_rest_per_million=0)
    )
    assert custom.compute == pytest.approx(10_000.0)
    assert custom.api_gateway == 0
    with pytest.raises(ValueError):
        cost_per_million(1.0, 0)


def test_cost_rows_state_their_inputs() -> None:
    table_rows = rows([1.5, 2.5], [0.4, 0.6], 1024, "stages.dev.lambda_memory_size")
    assert len(table_rows) == 2
    notes = table_rows[0].notes
    for needle in ("us-east-1", "0.0000166667", "0.20", "3.50", "1024 MB", "estimate"):
        assert needle in notes
    assert table_rows[0].raw["ours"]["billed_ms"] == 2.5
    assert table_rows[0].raw["tutorial"]["billed_ms"] == 1.0

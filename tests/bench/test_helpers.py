"""Small pure helpers: events, Chalice config resolution, the loopback guard, doctests."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from bench import chalice_config
from bench.events import proxy_event
from bench.loadgen import check_loopback

#: Every bench module with an example in it (``bench/`` is outside ``--doctest-modules``).
MODULES = sorted(
    f"bench.{path.stem}"
    for path in (Path(__file__).resolve().parents[2] / "bench").glob("*.py")
    if ">>> " in path.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0  # the examples were found and run, not skipped
    assert result.failed == 0


def test_proxy_event_has_what_chalice_reads() -> None:
    event = proxy_event("POST", "/predict/batch", {"texts": ["a"]})
    for key in ("headers", "pathParameters", "multiValueQueryStringParameters", "stageVariables"):
        assert key in event
    assert event["requestContext"]["resourcePath"] == "/predict/batch"
    assert event["body"] == '{"texts": ["a"]}'
    assert proxy_event("POST", "/predict", "not json")["body"] == "not json"
    assert proxy_event("GET", "/health")["body"] is None


def test_memory_size_resolution_order() -> None:
    config = {
        "lambda_memory_size": 256,
        "stages": {
            "dev": {"lambda_memory_size": 512},
            "prod": {"lambda_functions": {"api_handler": {"lambda_memory_size": 2048}}},
            "local": {},
        },
    }
    assert chalice_config.memory_size(config, "prod")[0] == 2048
    assert chalice_config.memory_size(config, "dev")[0] == 512
    assert chalice_config.memory_size(config, "local") == (256, "lambda_memory_size (top level)")
    assert chalice_config.pick_stage(config, "prod") == "prod"
    with pytest.raises(ValueError):
        chalice_config.pick_stage({"stages": {}}, "dev")


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/predict", "https://127.0.0.1/x", "ftp://localhost/"]
)
def test_load_generator_refuses_anything_but_loopback_http(url: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        check_loopback(url)

import json
from pathlib import Path

import pytest

from vendor_build.report import (
    DEFAULT_LIMITS,
    LAMBDA_UNZIPPED,
    LayerTooLargeError,
    Limit,
    check_limits,
    format_report,
    measure_zip,
)
from vendor_build.zipper import write_deterministic_zip

from .conftest import write

SP = "python/lib/python3.13/site-packages"


@pytest.fixture
def layer_zip(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    write(tree / SP / "big" / "__init__.py", data=b"x" * 60_000)
    write(tree / SP / "big.libs" / "libbig.so", data=bytes(range(256)) * 100)
    write(tree / SP / "small" / "__init__.py", data=b"y" * 1_000)
    write(tree / SP / "small-1.0.dist-info" / "METADATA", "Name: small\n")
    return write_deterministic_zip(tree, tmp_path / "layer.zip")


def test_sizes_per_package(layer_zip: Path) -> None:
    report = measure_zip(layer_zip)
    names = [p.name for p in report.packages]
    assert names[:3] == ["big", "big.libs", "small"]
    assert report.unzipped_bytes == 60_000 + 25_600 + 1_000 + len("Name: small\n")
    assert report.zipped_bytes == layer_zip.stat().st_size
    assert report.function_headroom_bytes == LAMBDA_UNZIPPED.max_bytes - report.unzipped_bytes
    assert all(limit["ok"] for limit in report.limits)
    check_limits(report)  # the real limits: a tiny layer passes
    data = json.loads(report.to_json())
    assert data["function_headroom_bytes"] == report.function_headroom_bytes
    assert {limit["name"] for limit in data["limits"]} == {limit.name for limit in DEFAULT_LIMITS}
    table = format_report(report)
    assert "big.libs" in table and "TOTAL" in table and "headroom" in table


def test_over_a_limit_fails_saying_by_how_much_and_what_is_biggest(layer_zip: Path) -> None:
    limits = (Limit("tiny unzipped budget", 50_000, "unzipped"), Limit("zip", 10**9, "zipped"))
    report = measure_zip(layer_zip, limits=limits)
    with pytest.raises(LayerTooLargeError) as caught:
        check_limits(report)
    message = str(caught.value)
    over = report.unzipped_bytes - 50_000
    assert "tiny unzipped budget" in message
    assert f"over by {over:,} bytes" in message
    assert "biggest parts: big " in message
    assert "zip:" not in message  # only the broken limit is named
    assert caught.value.report is report


def test_zipped_and_inline_limits(layer_zip: Path) -> None:
    limits = (Limit("direct upload", 100, "zipped"), Limit("inline", 100, "inline_request"))
    report = measure_zip(layer_zip, limits=limits)
    assert report.inline_request_bytes >= report.zipped_bytes * 4 // 3
    with pytest.raises(LayerTooLargeError, match=r"direct upload.*\n.*inline"):
        check_limits(report)

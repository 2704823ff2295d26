"""The real layer, built from PyPI wheels: under every limit, and it imports and predicts
in an isolated interpreter with a model the trainer made."""

from __future__ import annotations

from pathlib import Path

import pytest

from vendor_build.build import BuildResult
from vendor_build.pins import read_pins
from vendor_build.report import BUDGET_UNZIPPED, BUDGET_ZIPPED, check_limits
from vendor_build.verify import verify_layer

# the first slow test pays for the session build of the layer
pytestmark = [  # the real layer, built from PyPI's wheels
    pytest.mark.integration,
    pytest.mark.external,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]


def read_sms(path: Path, limit: int) -> tuple[list[str], list[str]]:
    """The first ``limit`` texts and labels of the SMS collection, by the trainer's loader."""
    from trainer.data import load_sms_collection

    messages = load_sms_collection(path)[:limit]
    return [m.text for m in messages], [m.label for m in messages]


def test_the_layer_fits_every_limit(built_layer: BuildResult) -> None:
    report = built_layer.report
    check_limits(report)  # Lambda's limits and the project budget
    assert report.unzipped_bytes <= BUDGET_UNZIPPED.max_bytes
    assert report.zipped_bytes <= BUDGET_ZIPPED.max_bytes
    names = {p.name for p in report.packages}
    assert {"sklearn", "numpy", "scipy", "joblib", "numpy.libs", "scipy.libs"} <= names
    trim = report.extra["trim"]
    assert trim["stripped_extension_modules"] > 100
    assert built_layer.report_path.is_file()


def test_the_layer_ships_unchecked_hash_bytecode_and_no_junk(built_layer: BuildResult) -> None:
    import zipfile

    with zipfile.ZipFile(built_layer.zip_path) as zf:
        names = zf.namelist()
        pyc = [n for n in names if n.endswith(".pyc")]
        assert len(pyc) > 500
        header = zf.read(next(n for n in pyc if n.endswith("sklearn/__init__.pyc")))[:8]
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, unchecked
    assert not [n for n in names if n.endswith((".pyi", ".pyx", ".pxd", "/RECORD"))]
    # test code only where non-test code imports it (numpy 2.2 did; 2.5 imports none)
    site_packages = "python/lib/python3.13/site-packages/"
    kept = built_layer.report.extra["trim"]["kept_test_modules"]
    assert sorted(n for n in names if "/tests/" in n) == sorted(
        f"{site_packages}{module.removesuffix('.py')}.pyc" for module in kept
    )
    assert all(n.startswith(site_packages) for n in names)


def test_verify_with_the_built_in_model(built_layer: BuildResult) -> None:
    result = verify_layer(built_layer.zip_path, repeat=1, echo=True)
    pins = read_pins()
    assert result.versions["sklearn"] == pins["scikit-learn"]
    assert result.versions["numpy"] == pins["numpy"]
    assert result.versions["scipy"] == pins["scipy"]
    assert all(p["predicted"] == p["expected"] for p in result.predictions)
    assert result.cold_imports[0].median_import_s > 0


def test_verify_with_a_model_the_trainer_made(
    built_layer: BuildResult, sms_collection_path: Path, tmp_path: Path
) -> None:
    from tests.support import default_bundle
    from trainer.artifacts import write_bundle

    texts, labels = read_sms(sms_collection_path, 2000)
    model_dir = write_bundle(default_bundle(texts, labels), tmp_path / "model")
    result = verify_layer(
        built_layer.zip_path, model_dir=model_dir, repeat=1, compare_without_bytecode=False
    )
    assert [p["predicted"] for p in result.predictions] == [
        p["expected"] for p in result.predictions
    ]

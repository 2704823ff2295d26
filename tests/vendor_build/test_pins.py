from pathlib import Path

import pytest

from vendor_build.pins import DEFAULT_REQUIREMENTS, RUNTIME_PACKAGES, PinError, runtime_pins


def test_runtime_pins_come_from_requirements_train() -> None:
    pins = runtime_pins(DEFAULT_REQUIREMENTS)
    assert [pin.split("==")[0] for pin in pins] == list(RUNTIME_PACKAGES)
    text = DEFAULT_REQUIREMENTS.read_text()
    for pin in pins:
        assert pin in text
    assert not any(name in " ".join(pins) for name in ("pandas", "matplotlib", "boto3"))


def test_an_unpinned_runtime_package_is_an_error(tmp_path: Path) -> None:
    requirements = tmp_path / "r.txt"
    requirements.write_text("scikit-learn==1.7.2\nnumpy>=2\njoblib==1.6.0\n")
    with pytest.raises(PinError, match="numpy, scipy, threadpoolctl"):
        runtime_pins(requirements)

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


def test_build_installs_the_packages_it_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another stack's pins (the bench's python3.11 baseline) need not name today's packages."""
    from vendor_build import __main__ as cli

    seen: list[tuple[str, ...]] = []
    monkeypatch.setattr(cli, "build_layer", lambda out, **kw: seen.append(kw["packages"]))
    assert cli.main(["build", "--out", str(tmp_path), "--packages", "scikit-learn, numpy"]) == 0
    assert cli.main(["build", "--out", str(tmp_path)]) == 0
    assert seen == [("scikit-learn", "numpy"), RUNTIME_PACKAGES]
    with pytest.raises(SystemExit):
        cli.main(["build", "--packages", " , "])
    old = tmp_path / "old.txt"
    old.write_text("scikit-learn==1.7.2\nnumpy==2.2.6\n")
    with pytest.raises(PinError, match="narwhals"):
        runtime_pins(old)
    assert runtime_pins(old, ("scikit-learn", "numpy")) == ["scikit-learn==1.7.2", "numpy==2.2.6"]

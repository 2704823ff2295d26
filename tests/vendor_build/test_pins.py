from importlib.metadata import version
from pathlib import Path

import pytest

from vendor_build.pins import DEFAULT_REQUIREMENTS, RUNTIME_PACKAGES, PinError, runtime_pins


def test_the_layer_pins_what_training_runs() -> None:
    """requirements-train.txt, as read for the layer, names the versions installed here (the
    training environment), so a model pickled here unpickles in the layer."""
    pins = runtime_pins(DEFAULT_REQUIREMENTS)
    assert pins == [f"{name}=={version(name)}" for name in RUNTIME_PACKAGES]
    assert pins[0] == "scikit-learn==1.9.1"  # the project's one scikit-learn
    assert not {"pandas", "matplotlib", "boto3"} & set(RUNTIME_PACKAGES)


def test_pins_are_read_through_case_separators_markers_and_comments(tmp_path: Path) -> None:
    requirements = tmp_path / "r.txt"
    requirements.write_text(
        "# the stack\n"
        "Scikit_Learn == 1.9.1 ; python_version >= '3.13'\n"
        "numpy==2.5.5  # pinned with the layer\n"
        "numpy-extra==9.9\n"
        "scipy>=1.18\n"
        "scipy==1.18.1\n"
    )
    assert runtime_pins(requirements, ("scikit-learn", "numpy", "scipy")) == [
        "scikit-learn==1.9.1",
        "numpy==2.5.5",
        "scipy==1.18.1",
    ]


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

"""Fast checks of the isolated interpreter verify uses (no real layer needed)."""

from pathlib import Path

import pytest

from vendor_build.verify import VerifyError, make_read_only, run_probe, time_cold_import

from .conftest import write

SP = "python/lib/python3.13/site-packages"


def test_the_probe_sees_only_the_layer_and_the_stdlib(tmp_path: Path) -> None:
    opt = tmp_path / "opt"
    write(opt / SP / "fakelayer" / "__init__.py", "import json\nVALUE = 1\n")
    write(opt / "python" / "toplevel.py", "X = 2\n")
    result, seconds = run_probe(opt, imports=["fakelayer", "toplevel"])
    assert result["leaks"] == []
    assert result["sys_path"][:2] == [str(opt / SP), str(opt / "python")]
    assert not any("site-packages" in p and not p.startswith(str(opt)) for p in result["sys_path"])
    assert seconds > 0


def test_an_import_error_fails_loudly(tmp_path: Path) -> None:
    opt = tmp_path / "opt"
    write(opt / SP / "fakelayer" / "__init__.py", "")
    # sklearn is installed in the venv running this test, but must not be visible
    with pytest.raises(VerifyError, match="ImportError: No module named 'sklearn'"):
        run_probe(opt, imports=["fakelayer", "sklearn"])


def test_cold_import_on_a_read_only_tree_writes_no_bytecode(tmp_path: Path) -> None:
    opt = tmp_path / "opt"
    write(opt / SP / "fakelayer" / "__init__.py", "VALUE = 1\n")
    make_read_only(opt)
    try:
        timing = time_cold_import(opt, label="fake", repeat=2, imports=["fakelayer"])
    finally:
        make_read_only(opt, read_only=False)
    assert len(timing.import_s) == 2 and timing.median_process_s > 0
    assert not list(opt.rglob("*.pyc"))

"""The deployment package carries valid bytecode for every module of the function.

Lambda's /var/task is read-only, so without it Python compiles app.py, Chalice's runtime
and chalicelib at every cold start.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from vendor_build.app_bytecode import LAMBDA_PYTHON, compile_function_code
from vendor_build.smoke import chalice_package

REPO_ROOT = Path(__file__).resolve().parents[2]
API_DIR = REPO_ROOT / "spam_api"


def test_runs_on_the_lambda_python() -> None:
    """Everything here assumes the venv is python3.13, as ``make install`` makes it."""
    assert sys.version_info[:2] == LAMBDA_PYTHON


def _project(tmp_path: Path) -> Path:
    copy = tmp_path / "spam_api"
    shutil.copytree(
        API_DIR,
        copy,
        ignore=shutil.ignore_patterns("deployments", "deployed", "__pycache__", "vendor"),
    )
    return copy


def _checked_hash_pyc_matches(pyc: bytes, source: bytes) -> bool:
    flags = int.from_bytes(pyc[4:8], "little")
    return flags == 0b11 and pyc[8:16] == importlib.util.source_hash(source)


def test_package_has_checked_hash_bytecode_for_every_module(tmp_path: Path) -> None:
    project = _project(tmp_path)
    api = chalice_package(project, tmp_path / "package", stage="dev")
    with zipfile.ZipFile(api.deployment_zip) as archive:
        names = set(archive.namelist())
        sources = sorted(n for n in names if n.endswith(".py"))
        assert {"app.py", "chalice/app.py", "chalicelib/service.py"} <= set(sources)
        for source in sources:
            cached = importlib.util.cache_from_source(source)
            assert cached in names, f"no bytecode for {source}"
            assert _checked_hash_pyc_matches(archive.read(cached), archive.read(source)), source


def test_imports_from_the_unzipped_package_use_that_bytecode(tmp_path: Path) -> None:
    project = _project(tmp_path)
    api = chalice_package(project, tmp_path / "package", stage="dev")
    task = tmp_path / "var-task"
    with zipfile.ZipFile(api.deployment_zip) as archive:
        archive.extractall(task)
    env = {**os.environ, "AWS_CHALICE_CLI_MODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("PYTHONPATH", None)
    code = f"import sys; sys.path.insert(0, {str(task)!r}); import app"
    done = subprocess.run(
        [sys.executable, "-B", "-v", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = {line.split()[-1] for line in done.stderr.splitlines() if "code object from" in line}
    for module in ("app", "chalice/app", "chalicelib/service", "chalicelib/registry"):
        name = Path(module)
        pyc = task / name.parent / "__pycache__" / f"{name.name}.cpython-313.pyc"
        assert f"'{pyc}'" in loaded or str(pyc) in loaded, f"{module} was compiled, not loaded"


def test_bytecode_of_an_edited_source_is_never_used(tmp_path: Path) -> None:
    project = _project(tmp_path)
    module = project / "chalicelib" / "marker_for_test.py"
    module.write_text("VALUE = 'compiled'\n")
    written = compile_function_code(project)
    assert Path(importlib.util.cache_from_source(str(module))) in written
    module.write_text("VALUE = 'edited after compiling'\n")  # same mtime second is fine
    code = (
        f"import sys; sys.path.insert(0, {str(project)!r}); "
        "from chalicelib.marker_for_test import VALUE; print(VALUE)"
    )
    done = subprocess.run(
        [sys.executable, "-B", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "edited after compiling"

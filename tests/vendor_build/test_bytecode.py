import subprocess
import sys
from pathlib import Path

from vendor_build.bytecode import compile_tree

from .conftest import write

_UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, do not check the source


def _flags(pyc: Path) -> int:
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def _run_isolated(root: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            f"import sys; sys.path.insert(0, {str(root)!r}); {code}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cache_layout_uses_unchecked_hashes(tmp_path: Path) -> None:
    write(tmp_path / "pkg" / "__init__.py", "from .mod import VALUE\n")
    write(tmp_path / "pkg" / "mod.py", "VALUE = 7\n")
    count, removed = compile_tree(tmp_path)
    assert (count, removed) == (2, 0)
    pyc = tmp_path / "pkg" / "__pycache__" / "mod.cpython-313.pyc"
    assert _flags(pyc) == _UNCHECKED_HASH
    # an unchecked-hash pyc is used even when the source's mtime changes (as after unzipping)
    (tmp_path / "pkg" / "mod.py").touch()
    done = _run_isolated(tmp_path, "import pkg.mod as m; print(m.__spec__.cached, m.VALUE)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "7"


def test_sourceless_ships_the_code_once_and_still_imports(tmp_path: Path) -> None:
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "mod.py", "def f():\n    return 'ok'\n")
    count, removed = compile_tree(tmp_path, sourceless=True, ddir="/opt/python")
    assert count == 2 and removed > 0
    assert not list(tmp_path.rglob("*.py"))
    assert not list(tmp_path.rglob("__pycache__"))
    assert _flags(tmp_path / "pkg" / "mod.pyc") == _UNCHECKED_HASH
    done = _run_isolated(tmp_path, "import pkg.mod as m; print(type(m.__loader__).__name__, m.f())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["SourcelessFileLoader", "ok"]

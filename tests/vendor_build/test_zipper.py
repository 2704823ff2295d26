import os
import zipfile
from pathlib import Path

from vendor_build.zipper import FIXED_DATE_TIME, sha256_file, write_deterministic_zip

from .conftest import write


def _tree(root: Path) -> Path:
    write(root / "python" / "b.py", "b = 2\n")
    write(root / "python" / "a" / "__init__.py", "a = 1\n")
    write(root / "python" / "a" / "_ext.cpython-313-x86_64-linux-gnu.so", data=b"\x7fELF" * 100)
    write(root / "python" / "a" / "data.bin", data=os.urandom(4096))
    return root


def test_same_tree_same_bytes(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree")
    first = write_deterministic_zip(tree, tmp_path / "one.zip")
    # touch everything: other mtimes, other permissions, must not change the zip
    for path in tree.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
        if path.is_file():
            path.chmod(0o600)
    second = write_deterministic_zip(tree, tmp_path / "two.zip")
    assert sha256_file(first) == sha256_file(second)
    assert first.read_bytes() == second.read_bytes()


def test_entries_sorted_with_fixed_times_and_modes(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree")
    path = write_deterministic_zip(tree, tmp_path / "layer.zip")
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names)
        assert names[0] == "python/a/__init__.py"
        assert all(info.date_time == FIXED_DATE_TIME for info in infos)
        modes = {info.filename: info.external_attr >> 16 for info in infos}
        assert modes["python/a/_ext.cpython-313-x86_64-linux-gnu.so"] == 0o100755
        assert modes["python/b.py"] == 0o100644
        assert zf.read("python/b.py") == b"b = 2\n"


def test_a_changed_file_changes_the_hash(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree")
    first = sha256_file(write_deterministic_zip(tree, tmp_path / "one.zip"))
    (tree / "python" / "b.py").write_text("b = 3\n")
    assert sha256_file(write_deterministic_zip(tree, tmp_path / "two.zip")) != first

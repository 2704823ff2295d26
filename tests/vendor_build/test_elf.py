"""The pure-Python ELF reader agrees with binutils' readelf, and the layer check catches a
binary for the wrong machine or one that needs a glibc the runtime's OS does not have."""

from __future__ import annotations

import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from vendor_build.elf import (
    BinaryCheckError,
    ElfError,
    check_binaries,
    read_elf,
    scan_elf_files,
)
from vendor_build.targets import Target

from .conftest import write

_E_MACHINE_OFFSET = 18


def readelf_glibc(path: Path) -> tuple[int, ...] | None:
    """The newest GLIBC_x.y in ``readelf -V``'s version needs (binutils, for comparison)."""
    readelf = shutil.which("readelf")
    assert readelf, "binutils' readelf is needed to cross-check the ELF reader"
    text = subprocess.run(
        [readelf, "-V", "-W", str(path)], capture_output=True, text=True, check=True
    ).stdout
    needs = text.split("Version needs section", 1)[-1] if "Version needs" in text else ""
    found = [
        tuple(int(x) for x in m.group(1).split(".")) for m in re.finditer(r"GLIBC_([\d.]+)", needs)
    ]
    return max(found) if found else None


def stdlib_binaries() -> list[Path]:
    """This interpreter's extension modules (lib-dynload): real x86_64 ELF files."""
    folder = Path(sysconfig.get_config_var("DESTSHARED"))
    found = sorted(folder.glob("*.so"))
    assert found, f"no extension modules in {folder}"
    return found


def with_glibc(minimum: tuple[int, int]) -> Path:
    """A stdlib extension whose newest GLIBC need is at least ``minimum``."""
    for path in stdlib_binaries():
        version = readelf_glibc(path)
        if version and version >= minimum:
            return path
    raise AssertionError(f"no stdlib extension needs GLIBC >= {minimum}")


def test_machine_and_glibc_match_readelf_for_every_stdlib_extension() -> None:
    checked = 0
    for path in stdlib_binaries():
        elf = read_elf(path)
        assert elf is not None and elf.machine == "x86_64", path
        assert elf.glibc == readelf_glibc(path), path
        checked += 1
    assert checked > 10


def test_not_elf_is_none_and_broken_elf_is_an_error(tmp_path: Path) -> None:
    assert read_elf(write(tmp_path / "a.py", "x = 1\n")) is None
    with pytest.raises(ElfError):
        read_elf(write(tmp_path / "short.so", data=b"\x7fELF\x02\x01" + b"\0" * 10))
    no_sections = bytearray(stdlib_binaries()[0].read_bytes())
    no_sections[0x28:0x30] = b"\0" * 8  # e_shoff = 0: version needs unreadable
    with pytest.raises(ElfError, match="no section headers"):
        read_elf(write(tmp_path / "nosections.so", data=bytes(no_sections)))


def test_a_binary_for_another_machine_fails_the_check(tmp_path: Path) -> None:
    original = stdlib_binaries()[0]
    write(tmp_path / "pkg" / "native.so", data=original.read_bytes())
    foreign = bytearray(original.read_bytes())
    foreign[_E_MACHINE_OFFSET : _E_MACHINE_OFFSET + 2] = (183).to_bytes(2, "little")  # aarch64
    write(tmp_path / "pkg.libs" / "libforeign-1234.so.1", data=bytes(foreign))
    assert read_elf(tmp_path / "pkg.libs" / "libforeign-1234.so.1").machine == "aarch64"
    with pytest.raises(BinaryCheckError) as caught:
        check_binaries(tmp_path, Target("3.13", "x86_64"))
    assert caught.value.report.wrong_machine == ["pkg.libs/libforeign-1234.so.1 (aarch64)"]
    assert caught.value.report.machines == {"x86_64": 1, "aarch64": 1}
    with pytest.raises(BinaryCheckError, match="not aarch64"):
        check_binaries(tmp_path, Target("3.13", "arm64"))


def test_a_glibc_newer_than_the_runtime_os_fails_the_check(tmp_path: Path) -> None:
    binary = with_glibc((2, 27))  # newer than Amazon Linux 2's 2.26, within 2023's 2.34
    write(tmp_path / "m.so", data=binary.read_bytes())
    report = check_binaries(tmp_path, Target("3.13"))
    assert report.max_glibc == ".".join(map(str, readelf_glibc(binary)))
    assert report.max_glibc_file == "m.so"
    with pytest.raises(BinaryCheckError, match=r"newer than 2\.26 \(Amazon Linux 2\)"):
        check_binaries(tmp_path, Target("3.11"))


def test_a_version_need_beyond_2_34_is_caught(tmp_path: Path) -> None:
    binary = with_glibc((2, 3))
    data = binary.read_bytes()
    assert b"GLIBC_2.2.5" in data
    # same length, so every string offset stays valid: the linker would now ask for 3.0.0
    write(tmp_path / "new.so", data=data.replace(b"GLIBC_2.2.5", b"GLIBC_3.0.0"))
    assert read_elf(tmp_path / "new.so").glibc == (3, 0, 0)
    with pytest.raises(BinaryCheckError, match=r"new\.so \(GLIBC_3\.0\.0\)"):
        check_binaries(tmp_path, Target("3.13"))


def test_scan_finds_elf_files_by_content_not_name(tmp_path: Path) -> None:
    data = stdlib_binaries()[0].read_bytes()
    write(tmp_path / "a.libs" / "libgfortran-abc.so.5.0.0", data=data)
    write(tmp_path / "b" / "no_suffix", data=data)
    write(tmp_path / "b" / "fake.so", "not a binary")
    assert [f.path for f in scan_elf_files(tmp_path)] == [
        "a.libs/libgfortran-abc.so.5.0.0",
        "b/no_suffix",
    ]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BinaryCheckError, match="no ELF files"):
        check_binaries((tmp_path / "empty").resolve(), Target("3.13"))

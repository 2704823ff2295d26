"""Read what an ELF binary is built for, in pure Python: its machine and its symbol versions.

A layer for arm64 is built on an x86_64 machine, and the target's glibc is older than the
build machine's: neither mistake shows until Lambda loads the library. So every ELF file in a
layer is read here (the header's ``e_machine``; the ``.gnu.version_r`` section, where the
dynamic linker finds the ``GLIBC_x.y`` versions a file needs) and checked against the
:class:`~vendor_build.targets.Target`. No binutils needed: the host's ``readelf`` would do,
but the format is small and fixed.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vendor_build.targets import Target

__all__ = [
    "BinaryCheckError",
    "BinaryReport",
    "ElfError",
    "ElfFile",
    "check_binaries",
    "read_elf",
    "scan_elf_files",
    "summarise",
]

_MAGIC = b"\x7fELF"
#: e_machine values (System V ABI) for the machines Lambda runs, and a few neighbours.
_MACHINE_NAMES = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv"}
_SHT_GNU_VERNEED = 0x6FFFFFFE
_GLIBC_RE = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")


class ElfError(ValueError):
    """A file starts like ELF but its headers cannot be read."""


@dataclass(frozen=True)
class ElfFile:
    """One ELF file: its machine and the symbol versions it needs, per library."""

    path: str
    machine: str
    needs: dict[str, tuple[str, ...]]

    @property
    def glibc(self) -> tuple[int, ...] | None:
        """The newest ``GLIBC_x.y`` any of its references needs (None: no glibc versions)."""
        found = [
            tuple(int(part) for part in match.groups() if part is not None)
            for versions in self.needs.values()
            for version in versions
            if (match := _GLIBC_RE.match(version))
        ]
        return max(found) if found else None


def _cstring(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if end < 0:
        raise ElfError(f"unterminated string at {offset}")
    return data[offset:end].decode("ascii", "replace")


def read_elf(path: Path) -> ElfFile | None:
    """Parse ``path``'s ELF header and version needs; None when it is not an ELF file.

    Raises :class:`ElfError` when it is ELF but malformed, or has no section headers (then
    its version needs cannot be read, and an unreadable binary must not pass a check).
    """
    path = Path(path)
    with open(path, "rb") as handle:
        if handle.read(4) != _MAGIC:
            return None
        data = _MAGIC + handle.read()
    if len(data) < 64 or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ElfError(f"{path}: truncated or unknown ELF class/encoding")
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    (e_machine,) = struct.unpack_from(order + "H", data, 18)
    if wide:
        (shoff,) = struct.unpack_from(order + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(order + "HH", data, 0x3A)
        section = order + "IIQQQQIIQQ"  # name type flags addr offset size link info align entsize
    else:
        (shoff,) = struct.unpack_from(order + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(order + "HH", data, 0x2E)
        section = order + "IIIIIIIIII"
    if shoff == 0 or shnum == 0:
        raise ElfError(f"{path}: no section headers, so its version needs cannot be read")
    try:
        headers = [
            struct.unpack_from(section, data, shoff + index * shentsize) for index in range(shnum)
        ]
        needs: dict[str, tuple[str, ...]] = {}
        for header in headers:
            if header[1] != _SHT_GNU_VERNEED:
                continue
            offset, link, count = header[4], header[6], header[7]
            strings = data[headers[link][4] : headers[link][4] + headers[link][5]]
            for _ in range(count):
                _version, aux_count, file_name, aux, next_need = struct.unpack_from(
                    order + "HHIII", data, offset
                )
                versions, aux_offset = [], offset + aux
                for _ in range(aux_count):
                    _hash, _flags, _other, name, next_aux = struct.unpack_from(
                        order + "IHHII", data, aux_offset
                    )
                    versions.append(_cstring(strings, name))
                    aux_offset += next_aux
                needs[_cstring(strings, file_name)] = tuple(versions)
                if not next_need:
                    break
                offset += next_need
    except (struct.error, IndexError) as exc:
        raise ElfError(f"{path}: malformed section headers or version needs ({exc})") from exc
    machine = _MACHINE_NAMES.get(e_machine, f"e_machine {e_machine}")
    return ElfFile(str(path), machine, needs)


def scan_elf_files(root: Path) -> list[ElfFile]:
    """Every ELF file under ``root`` (whatever its name: vendored libraries have versions)."""
    root = Path(root)
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            elf = read_elf(path)
            if elf is not None:
                found.append(ElfFile(path.relative_to(root).as_posix(), elf.machine, elf.needs))
    return found


def _version_text(version: tuple[int, ...] | None) -> str | None:
    return ".".join(map(str, version)) if version else None


@dataclass
class BinaryReport:
    """What :func:`check_binaries` saw: machines, the newest glibc needed and by whom."""

    target: dict[str, object]
    elf_files: int
    machines: dict[str, int]
    max_glibc: str | None
    max_glibc_file: str | None
    wrong_machine: list[str] = field(default_factory=list)
    too_new: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every ELF file has the target's machine and needs no newer glibc."""
        return self.elf_files > 0 and not self.wrong_machine and not self.too_new

    def problems(self) -> list[str]:
        """One line per failed condition."""
        lines = []
        if not self.elf_files:
            lines.append("no ELF files at all: not a layer with compiled packages")
        if self.wrong_machine:
            lines.append(
                f"{len(self.wrong_machine)} ELF file(s) not {self.target['machine']}: "
                + ", ".join(self.wrong_machine[:10])
            )
        if self.too_new:
            lines.append(
                f"{len(self.too_new)} ELF file(s) need a glibc newer than "
                f"{self.target['max_glibc']} ({self.target['os']}): " + ", ".join(self.too_new[:10])
            )
        return lines


class BinaryCheckError(RuntimeError):
    """A layer holds a binary for another machine, or one that needs a newer glibc."""

    def __init__(self, message: str, report: BinaryReport) -> None:
        super().__init__(message)
        self.report = report


def summarise(files: Iterable[ElfFile], target: Target) -> BinaryReport:
    """Judge already-read ELF files against ``target`` (no exception; see ``ok``)."""
    files = list(files)
    with_glibc = [(f.glibc, f.path) for f in files if f.glibc is not None]
    newest = max(with_glibc) if with_glibc else (None, None)
    return BinaryReport(
        target=target.describe(),
        elf_files=len(files),
        machines=dict(Counter(f.machine for f in files)),
        max_glibc=_version_text(newest[0]),
        max_glibc_file=newest[1],
        wrong_machine=[f"{f.path} ({f.machine})" for f in files if f.machine != target.machine],
        too_new=[
            f"{f.path} (GLIBC_{_version_text(f.glibc)})"
            for f in files
            if f.glibc is not None and f.glibc[:2] > target.max_glibc
        ],
    )


def check_binaries(root: Path, target: Target) -> BinaryReport:
    """Read every ELF file under ``root``; raise :class:`BinaryCheckError` if one does not fit.

    Returns the report (machines, newest glibc and the file needing it) when all fit.
    """
    report = summarise(scan_elf_files(root), target)
    if not report.ok:
        raise BinaryCheckError(
            f"binaries under {root} do not fit {target.runtime} on {target.arch}:\n  "
            + "\n  ".join(report.problems()),
            report,
        )
    return report

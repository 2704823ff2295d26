"""Static proofs about a built layer that need no interpreter of its architecture.

The wheels pip chose must be tagged for the target (interpreter, ABI, machine, and a
manylinux glibc no newer than the runtime's); the bytecode must carry the target Python's
magic number; and two layers built from the same pins for different architectures must hold
the same files, apart from the binaries whose names carry the machine. With the ELF checks of
``vendor_build.elf`` these prove what an import test on real hardware would otherwise prove
first.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vendor_build.targets import Target, find_interpreter

__all__ = [
    "LayerCheckError",
    "ListDifference",
    "bytecode_magic",
    "check_bytecode",
    "check_wheel_tags",
    "compare_file_lists",
    "installed_wheel_tags",
    "static_proofs",
    "tag_fits",
]

#: Legacy manylinux names and the glibc they stand for (PEP 600).
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX_RE = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
#: The machine in extension-module names (``.cpython-313-aarch64-linux-gnu.so``).
_ARCH_IN_NAME = re.compile(r"(x86_64|aarch64)")


class LayerCheckError(RuntimeError):
    """A wheel's tags, the bytecode, or the file list do not fit the target."""


def installed_wheel_tags(site_packages: Path) -> dict[str, list[str]]:
    """``{dist-info folder: [Tag lines of its WHEEL file]}``, read before trimming removes them."""
    tags: dict[str, list[str]] = {}
    for wheel in sorted(Path(site_packages).glob("*.dist-info/WHEEL")):
        tags[wheel.parent.name] = [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")
        ]
    return tags


def _platform_fits(platform: str, target: Target) -> bool:
    if platform == "any":
        return True
    for legacy, glibc in _LEGACY_MANYLINUX.items():
        if platform == f"{legacy}_{target.machine}":
            return glibc <= target.max_glibc
    match = _MANYLINUX_RE.match(platform)
    return bool(match) and (
        match.group(3) == target.machine
        and (int(match.group(1)), int(match.group(2))) <= target.max_glibc
    )


def tag_fits(tag: str, target: Target) -> bool:
    """Whether one wheel tag (``interpreter-abi-platform``) loads on ``target``.

    >>> t = Target("3.13", "arm64")
    >>> tag_fits("cp313-cp313-manylinux_2_28_aarch64", t), tag_fits("py3-none-any", t)
    (True, True)
    >>> tag_fits("cp313-cp313-manylinux_2_28_x86_64", t)
    False
    >>> tag_fits("cp311-cp311-manylinux_2_28_aarch64", t)
    False
    """
    try:
        interpreter, abi, platform = tag.split("-")
    except ValueError:
        return False
    cp = "cp" + target.python.replace(".", "")
    interpreter_ok = interpreter in {cp, "py3", f"py{target.python.replace('.', '')}"} or (
        abi == "abi3" and interpreter.startswith("cp3") and int(interpreter[3:]) <= int(cp[3:])
    )
    abi_ok = abi in {cp, "none", "abi3"}
    return interpreter_ok and abi_ok and _platform_fits(platform, target)


def check_wheel_tags(tags: dict[str, list[str]], target: Target) -> None:
    """Raise :class:`LayerCheckError` naming each wheel with no tag that fits ``target``."""
    misfits = {
        dist: found for dist, found in tags.items() if not any(tag_fits(t, target) for t in found)
    }
    if not tags:
        raise LayerCheckError("no wheel tags recorded: nothing was installed")
    if misfits:
        raise LayerCheckError(f"wheels whose tags do not fit {target.describe()}: {misfits}")


def bytecode_magic(python: str) -> bytes:
    """The four-byte magic number ``python`` writes into ``.pyc`` headers."""
    done = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return bytes.fromhex(done.stdout.strip())


def check_bytecode(layer_zip: Path, target: Target, python: str | None = None) -> int:
    """Every ``.pyc`` in the zip has the target Python's magic. Returns how many there are.

    ``python`` is an interpreter of the target's version (default: found by
    :func:`~vendor_build.targets.find_interpreter`).
    """
    magic = bytecode_magic(python or find_interpreter(target.python))
    count, wrong = 0, []
    with zipfile.ZipFile(layer_zip) as zf:
        for name in zf.namelist():
            if name.endswith(".pyc"):
                count += 1
                with zf.open(name) as handle:
                    if handle.read(4) != magic:
                        wrong.append(name)
    if not count or wrong:
        raise LayerCheckError(
            f"{layer_zip}: {count} .pyc, {len(wrong)} not for Python {target.python}: {wrong[:5]}"
        )
    return count


@dataclass(frozen=True)
class ListDifference:
    """Files of two layers, compared with the machine taken out of binary names."""

    only_in_first: list[str]
    only_in_second: list[str]
    binaries_compared: int
    vendored_first: list[str]
    vendored_second: list[str]

    @property
    def same(self) -> bool:
        """True when every non-vendored file has its counterpart."""
        return not self.only_in_first and not self.only_in_second


def _vendored(name: str) -> bool:
    """auditwheel's ``<pkg>.libs/`` libraries: their names carry hashes of their contents."""
    return any(part.endswith(".libs") for part in PurePosixPath(name).parts)


def _normalise(names: Iterable[str], version_dir: str) -> tuple[set[str], list[str], int]:
    kept, vendored, binaries = set(), [], 0
    for name in names:
        if name.endswith("/"):
            continue
        if _vendored(name):
            vendored.append(name)
            continue
        if ".so" in PurePosixPath(name).suffixes:
            binaries += 1
            name = _ARCH_IN_NAME.sub("<machine>", name)
        kept.add(name.replace(version_dir, "<python>"))
    return kept, sorted(vendored), binaries


def compare_file_lists(first: Path, second: Path) -> ListDifference:
    """Compare two layer zips' file lists, binaries matched by name with the machine masked.

    The vendored libraries under ``*.libs/`` are listed apart: their names hash their
    contents (and aarch64 builds vendor different ones), so they cannot be matched by name.
    """
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        names_a, names_b = a.namelist(), b.namelist()
    pattern = re.compile(r"python/lib/python3\.\d+/")
    dir_a = next((m.group(0) for n in names_a if (m := pattern.match(n))), "python/")
    dir_b = next((m.group(0) for n in names_b if (m := pattern.match(n))), "python/")
    set_a, vendored_a, binaries = _normalise(names_a, dir_a)
    set_b, vendored_b, _ = _normalise(names_b, dir_b)
    return ListDifference(
        only_in_first=sorted(set_a - set_b),
        only_in_second=sorted(set_b - set_a),
        binaries_compared=binaries,
        vendored_first=vendored_a,
        vendored_second=vendored_b,
    )


def static_proofs(
    layer_zip: Path,
    target: Target,
    *,
    python: str | None = None,
    compare_to: Path | None = None,
) -> dict[str, object]:
    """Every check that needs no interpreter of ``target``'s machine; raises on a failure.

    Unzips the layer and reads its binaries (machine, glibc), checks the bytecode's magic,
    and, given ``compare_to`` (the layer of the other architecture), the file lists. Returns
    what was found, for the verify report.
    """
    import tempfile

    from vendor_build.elf import check_binaries

    with tempfile.TemporaryDirectory(prefix="layer-static-") as scratch:
        with zipfile.ZipFile(layer_zip) as zf:
            zf.extractall(scratch)
        binaries = check_binaries(Path(scratch), target)
    proofs: dict[str, object] = {
        "target": target.describe(),
        "elf_files": binaries.elf_files,
        "machines": binaries.machines,
        "max_glibc": binaries.max_glibc,
        "max_glibc_file": binaries.max_glibc_file,
        "pyc_files": check_bytecode(layer_zip, target, python),
    }
    if compare_to is not None:
        difference = compare_file_lists(layer_zip, compare_to)
        if not difference.same:
            raise LayerCheckError(
                f"{layer_zip} and {compare_to} differ beyond binaries: only in the first "
                f"{difference.only_in_first[:10]}, only in the second "
                f"{difference.only_in_second[:10]}"
            )
        proofs["file_list_matches"] = str(compare_to)
        proofs["binaries_matched_by_name"] = difference.binaries_compared
        proofs["vendored_libraries"] = {
            "this": [Path(n).name for n in difference.vendored_first],
            "other": [Path(n).name for n in difference.vendored_second],
        }
    return proofs

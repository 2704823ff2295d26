"""A deterministic zip: the same tree gives the same bytes and the same sha256.

Entries are sorted, carry a fixed timestamp and fixed Unix permissions, and are written
by one compressor at one level, so a rebuild from the same wheels is byte-identical and a
changed layer is visible as a changed hash.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

__all__ = ["FIXED_DATE_TIME", "sha256_file", "write_deterministic_zip"]

#: The earliest timestamp a zip can hold (DOS epoch); any fixed value would do.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644
_EXEC_MODE = 0o100755


def _mode(path: Path) -> int:
    """0755 for shared objects (as pip installs them), 0644 for everything else."""
    return _EXEC_MODE if ".so" in path.suffixes else _FILE_MODE


def write_deterministic_zip(source: Path, destination: Path, *, compresslevel: int = 9) -> Path:
    """Zip every file under ``source`` (paths relative to it) into ``destination``.

    Symlinks are stored as the files they point to; directories are implied by paths.
    """
    source = Path(source)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(
        (path for path in source.rglob("*") if path.is_file()),
        key=lambda p: p.relative_to(source).as_posix(),
    )
    tmp = destination.with_name(destination.name + ".tmp")
    with zipfile.ZipFile(
        tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
    ) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=FIXED_DATE_TIME)
            info.create_system = 3  # Unix, so external_attr holds the mode
            info.external_attr = _mode(path) << 16
            zf.writestr(
                info,
                path.read_bytes(),
                compress_type=zipfile.ZIP_DEFLATED,
                compresslevel=compresslevel,
            )
    os.replace(tmp, destination)
    return destination


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()

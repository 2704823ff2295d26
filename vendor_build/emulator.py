"""An arm64 Python 3.13 on an x86_64 machine: Debian's, run by qemu's user-mode emulator.

The arm64 layer is built on x86_64, so nothing here can import it natively. Debian 13
(trixie) ships CPython 3.13 for arm64; ``debootstrap --foreign`` downloads it with the
libraries it needs and unpacks the essential packages, and the rest are unpacked with
``dpkg-deb -x`` (no maintainer scripts run: an interpreter needs none). ``qemu-aarch64-static
-L ROOT`` then runs ``ROOT/usr/bin/python3.13`` with the dynamic linker and libraries taken
from ROOT, so neither chroot privileges nor binfmt_misc are needed. The root is cached under
build/ and reused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

__all__ = [
    "DEFAULT_MIRROR",
    "DEFAULT_ROOT",
    "DEFAULT_SUITE",
    "EmulatorError",
    "emulated_python",
    "prepare_root",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO_ROOT / "build" / "arm64-root"
DEFAULT_SUITE = "trixie"  # Debian 13: python3.13 for arm64
DEFAULT_MIRROR = "http://deb.debian.org/debian"
#: What the interpreter needs beyond the essential packages debootstrap unpacks itself.
PACKAGES = ("python3.13-minimal", "libpython3.13-stdlib")
#: The Python version Debian's suite ships (the only one an emulated verify can run).
PYTHON_VERSION = "3.13"
QEMU = "qemu-aarch64-static"
_STAMP = ".vendor_build-root.json"
_HOW_TO_INSTALL = "apt-get install qemu-user-static debootstrap (or `make arm64-root`)"


class EmulatorError(RuntimeError):
    """The emulator or debootstrap is missing, or the Debian root could not be made."""


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise EmulatorError(
            f"{what} failed (exit {done.returncode}): {' '.join(argv[:4])} ...\n"
            f"{(done.stdout + done.stderr)[-3000:]}"
        )


def _interpreter(root: Path) -> Path:
    return root / "usr" / "bin" / f"python{PYTHON_VERSION}"


def prepare_root(
    root: Path = DEFAULT_ROOT,
    *,
    suite: str = DEFAULT_SUITE,
    mirror: str = DEFAULT_MIRROR,
    echo: bool = True,
) -> Path:
    """Make (or reuse) a Debian arm64 root holding python3.13 under ``root``. Returns ``root``.

    Reused when its stamp and interpreter exist; otherwise made in ``root.tmp`` and moved
    into place, so an interrupted run leaves no half-made root behind. Needs root
    privileges (debootstrap creates device nodes) and the Debian mirror.
    """
    root = Path(root)
    if (root / _STAMP).is_file() and _interpreter(root).is_file():
        return root
    missing = [tool for tool in ("debootstrap", "dpkg-deb", QEMU) if shutil.which(tool) is None]
    if missing:
        raise EmulatorError(f"{', '.join(missing)} not found: {_HOW_TO_INSTALL}")
    scratch = root.with_name(root.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    if echo:
        print(f"debootstrap --foreign --arch=arm64 {suite} into {root} ...", flush=True)
    _run(
        [
            "debootstrap",
            "--foreign",
            "--arch=arm64",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            suite,
            str(scratch),
            mirror,
        ],
        "debootstrap",
    )
    downloaded = time.perf_counter() - started
    archives = sorted((scratch / "var" / "cache" / "apt" / "archives").glob("*.deb"))
    for deb in archives:  # the first stage unpacked the essential ones; the rest wait for us
        _run(["dpkg-deb", "-x", str(deb), str(scratch)], f"unpacking {deb.name}")
        deb.unlink()
    if not _interpreter(scratch).is_file():
        raise EmulatorError(f"{_interpreter(scratch)} is missing after unpacking {suite}")
    stamp = {
        "suite": suite,
        "mirror": mirror,
        "packages": len(archives),
        "debootstrap_s": round(downloaded, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }
    (scratch / _STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
    scratch.rename(root)
    if echo:
        print(f"arm64 root ready: {stamp}", flush=True)
    return root


def emulated_python(root: Path = DEFAULT_ROOT) -> list[str]:
    """The command that runs the root's arm64 python3.13 (prefix it to the interpreter's args).

    Raises :class:`EmulatorError` when the root or the emulator is missing, or the
    interpreter does not start.
    """
    root = Path(root).resolve()
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise EmulatorError(f"{QEMU} not found: {_HOW_TO_INSTALL}")
    if not _interpreter(root).is_file():
        raise EmulatorError(f"no arm64 python{PYTHON_VERSION} in {root}: `make arm64-root`")
    command = [qemu, "-L", str(root), str(_interpreter(root))]
    done = subprocess.run(
        [*command, "-I", "-S", "-c", "import platform; print(platform.machine())"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 or done.stdout.strip() != "aarch64":
        raise EmulatorError(f"the emulated python did not run as aarch64: {done.stderr[-2000:]}")
    return command

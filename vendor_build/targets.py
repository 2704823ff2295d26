"""What a layer is built for: a Lambda Python runtime on one architecture.

One :class:`Target` answers every per-target question the build, the checks, verify and
publish ask: the pip platform tag, the ELF machine its binaries must have, the newest glibc
its runtime's OS offers, the runtime and architecture names Lambda records, and which
``strip`` understands its binaries. The runtime table is AWS's (platform-facts): python3.11
runs on Amazon Linux 2 (glibc 2.26), python3.12 and later on Amazon Linux 2023 (glibc 2.34).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ARCHITECTURES",
    "Target",
    "TargetError",
    "find_interpreter",
]

#: Lambda's names (``lambda_architecture``, ``CompatibleArchitectures``).
ARCHITECTURES = ("x86_64", "arm64")

#: Lambda architecture -> (ELF machine / wheel tag suffix, the binutils ``strip`` that reads it).
_MACHINES = {"x86_64": ("x86_64", "strip"), "arm64": ("aarch64", "aarch64-linux-gnu-strip")}

#: Python minor version -> (the runtime's OS, its glibc). python3.11: Amazon Linux 2.
_RUNTIME_OS = {
    "3.11": ("Amazon Linux 2", (2, 26)),
    "3.12": ("Amazon Linux 2023", (2, 34)),
    "3.13": ("Amazon Linux 2023", (2, 34)),
    "3.14": ("Amazon Linux 2023", (2, 34)),
}


class TargetError(ValueError):
    """No Lambda runtime for that Python version or architecture, or no interpreter for it."""


@dataclass(frozen=True)
class Target:
    """A Lambda Python runtime on one architecture, e.g. ``Target("3.13", "arm64")``.

    >>> t = Target("3.13", "arm64")
    >>> t.platform, t.runtime, t.machine, t.max_glibc
    ('manylinux_2_28_aarch64', 'python3.13', 'aarch64', (2, 34))
    >>> Target("3.11").platform
    'manylinux2014_x86_64'
    """

    python: str
    arch: str = "x86_64"

    def __post_init__(self) -> None:
        if self.arch not in _MACHINES:
            raise TargetError(f"architecture {self.arch!r}: Lambda has {', '.join(ARCHITECTURES)}")
        if self.python not in _RUNTIME_OS:
            raise TargetError(
                f"python {self.python!r}: Lambda runtimes are {', '.join(sorted(_RUNTIME_OS))}"
            )

    @property
    def runtime(self) -> str:
        """Lambda's runtime name (``CompatibleRuntimes``, Chalice's ``Runtime``)."""
        return f"python{self.python}"

    @property
    def machine(self) -> str:
        """The ELF machine and wheel-tag suffix of this architecture (``aarch64`` for arm64)."""
        return _MACHINES[self.arch][0]

    @property
    def os_name(self) -> str:
        """The operating system Lambda runs this runtime on."""
        return _RUNTIME_OS[self.python][0]

    @property
    def max_glibc(self) -> tuple[int, int]:
        """The glibc of that OS: no binary in the layer may need a newer ``GLIBC_x.y``."""
        return _RUNTIME_OS[self.python][1]

    @property
    def platform(self) -> str:
        """pip's ``--platform``: manylinux2014 (glibc 2.17) on Amazon Linux 2, else 2_28.

        pip also accepts every older manylinux tag of the same machine for it.
        """
        if self.max_glibc < (2, 28):
            return f"manylinux2014_{self.machine}"
        return f"manylinux_2_28_{self.machine}"

    @property
    def strip(self) -> str:
        """The ``strip`` that reads this architecture's ELF files (the host's reads x86_64 only)."""
        return _MACHINES[self.arch][1]

    @property
    def site_packages(self) -> str:
        """Where Lambda looks for the layer's packages, relative to /opt."""
        return f"python/lib/python{self.python}/site-packages"

    def describe(self) -> dict[str, object]:
        """JSON-ready: what the build report and publish record."""
        return {
            "python_version": self.python,
            "architecture": self.arch,
            "runtime": self.runtime,
            "platform": self.platform,
            "machine": self.machine,
            "os": self.os_name,
            "max_glibc": ".".join(map(str, self.max_glibc)),
        }


def _runs_as(candidate: str, version: str) -> bool:
    """True when ``candidate`` starts and reports ``version`` (a pyenv shim may not)."""
    try:
        done = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == version


def find_interpreter(version: str) -> str:
    """A base CPython of ``version`` for bytecode: this one, pyenv's, or one on PATH.

    pyenv's ``pythonX.Y`` shim on PATH answers "command not found" unless PYENV_VERSION names
    it, so the versions folder under ``$PYENV_ROOT`` (default ``~/.pyenv``) is searched first.
    """
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return getattr(sys, "_base_executable", sys.executable) or sys.executable
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(root.glob(f"versions/{version}*/bin/python{version}"), reverse=True)
    on_path = shutil.which(f"python{version}")
    for candidate in [*map(str, candidates), *([on_path] if on_path else [])]:
        if _runs_as(candidate, version):
            return candidate
    raise TargetError(
        f"no Python {version} found (looked in {root}/versions and on PATH): install it, "
        f"e.g. `pyenv install {version}`, or pass its path"
    )

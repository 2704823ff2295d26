"""Fixtures for the layer tests: a small synthetic site-packages, and the real layer (built
once per session from PyPI wheels, cached under build/wheels, for the slow tests only)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vendor_build.build import DEFAULT_WHEEL_DIR, BuildResult, build_layer

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str = "", data: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        path.write_bytes(data)
    else:
        path.write_text(text)
    return path


def stdlib_extension() -> Path:
    """A real, unstripped-or-not ELF extension module from this interpreter's stdlib."""
    import _json

    path = Path(getattr(_json, "__file__", ""))
    if path.suffix != ".so":
        pytest.skip("this interpreter's _json is built in: no extension module to copy")
    return path


@pytest.fixture
def site_packages(tmp_path: Path) -> Path:
    """A miniature site-packages with each kind of file the trimming rules care about."""
    sp = tmp_path / "python" / "lib" / "python3.13" / "site-packages"
    write(sp / "numpyish" / "__init__.py", "from numpyish import testing\n")
    # numpy 2.2's trap: non-test code imports a module that lives in a tests package.
    write(sp / "numpyish" / "testing" / "__init__.py", "from .utils import NA\n")
    write(
        sp / "numpyish" / "testing" / "utils.py",
        "from numpyish._core.tests._natype import NA\n",
    )
    write(sp / "numpyish" / "_core" / "__init__.py")
    write(sp / "numpyish" / "_core" / "tests" / "_natype.py", "NA = 'NA'\n")
    write(sp / "numpyish" / "_core" / "tests" / "test_big.py", "import pytest\n" + "#" * 5000)
    # a relative import of a tests module from non-test code
    write(sp / "relpkg" / "__init__.py", "from .tests.helpers import HELP\n")
    write(sp / "relpkg" / "tests" / "__init__.py")
    write(sp / "relpkg" / "tests" / "helpers.py", "HELP = 1\n")
    write(sp / "relpkg" / "tests" / "test_relpkg.py", "import pytest\n")
    write(sp / "plain" / "__init__.py", "VALUE = 42\n")
    # a developer script that imports a test module must not keep it
    write(sp / "plain" / "_precompute" / "gen.py", "from plain.tests.test_plain import x\n")
    write(sp / "plain" / "tests" / "__init__.py")
    write(sp / "plain" / "tests" / "test_plain.py", "import pytest\n")
    write(sp / "plain" / "test" / "test_other.py", "import pytest\n")
    write(sp / "plain" / "conftest.py", "import pytest\n")
    write(sp / "plain" / "__init__.pyi", "VALUE: int\n")
    write(sp / "plain" / "py.typed")
    write(sp / "plain" / "_speedups.pyx", "cdef int x\n")
    write(sp / "plain" / "_speedups.pxd", "cdef int x\n")
    write(sp / "plain" / "include" / "plain.h", "int x;\n")
    write(sp / "plain" / "meson.build", "project()\n")
    write(sp / "plain" / "data" / "table.csv", "a,b\n1,2\n")
    write(sp / "plain" / "descr" / "iris.rst", "Iris, read at run time\n")
    write(sp / "plain" / "__pycache__" / "__init__.cpython-313.pyc", data=b"stale")
    write(sp / "plain-1.0.dist-info" / "METADATA", "Name: plain\nVersion: 1.0\n")
    write(sp / "plain-1.0.dist-info" / "RECORD", "plain/__init__.py,,\n")
    write(sp / "plain-1.0.dist-info" / "INSTALLER", "pip\n")
    write(sp / "plain-1.0.dist-info" / "WHEEL", "Wheel-Version: 1.0\n")
    write(sp / "plain-1.0.dist-info" / "entry_points.txt", "[console_scripts]\n")
    write(sp / "plain-1.0.dist-info" / "licenses" / "LICENSE.txt", "BSD\n")
    write(sp / "bin" / "plain-tool", "#!/build/python\n")
    extension = stdlib_extension().read_bytes()
    write(sp / "plain" / "_fast.cpython-313-x86_64-linux-gnu.so", data=extension)
    write(sp / "plain" / "_test_helpers.cpython-313-x86_64-linux-gnu.so", data=extension)
    write(sp / "plain.libs" / "libvendored-1234abcd.so.1.0", data=extension)
    write(sp / "plain.libs" / "libother-5678.so", data=extension)
    return sp


@pytest.fixture(scope="session")
def built_layer(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The real layer, built once per session from the pinned manylinux_2_28 wheels.

    Wheels are cached in build/wheels (or $VENDOR_BUILD_WHEEL_DIR): the first run on a
    fresh machine downloads them from PyPI, later runs are offline.
    """
    wheel_dir = Path(os.environ.get("VENDOR_BUILD_WHEEL_DIR", DEFAULT_WHEEL_DIR))
    out = tmp_path_factory.mktemp("layer")
    try:
        return build_layer(out, wheel_dir=wheel_dir, check=False, echo=True)
    except Exception:
        shutil.rmtree(out, ignore_errors=True)
        raise


def _build_313(factory: pytest.TempPathFactory, arch: str) -> BuildResult:
    out = factory.mktemp(f"layer-313-{arch}")
    wheel_dir = Path(os.environ.get("VENDOR_BUILD_WHEEL_DIR", DEFAULT_WHEEL_DIR))
    try:
        return build_layer(
            out,
            python_version="3.13",
            arch=arch,
            wheel_dir=wheel_dir,
            check=False,
            echo=True,
        )
    except Exception:
        shutil.rmtree(out, ignore_errors=True)
        raise


@pytest.fixture(scope="session")
def layer_313_x86_64(built_layer: BuildResult) -> BuildResult:
    """The python3.13 x86_64 layer: the session's default layer."""
    assert built_layer.report.extra.get("python_version") == "3.13"
    return built_layer


@pytest.fixture(scope="session")
def layer_313_arm64(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The python3.13 arm64 layer, from the same pins and wheel cache."""
    return _build_313(tmp_path_factory, "arm64")


@pytest.fixture(scope="session")
def arm64_python() -> list[str]:
    """The emulated arm64 python3.13 (Debian root cached in build/arm64-root; `make arm64-root`).

    Missing qemu-user-static or debootstrap fails the test under CI (`.ci/run` installs them)
    and skips it elsewhere.
    """
    from tests.conftest import IN_CI
    from vendor_build.emulator import EmulatorError, emulated_python, prepare_root

    try:
        return emulated_python(prepare_root())
    except EmulatorError as exc:
        if IN_CI:
            pytest.fail(f"the arm64 emulator is needed in CI: {exc}")
        pytest.skip(f"no arm64 emulator here: {exc}")

"""The layer's package pins, read from ``requirements-train.txt`` so there is one source of truth.

The model is pickled by the training environment and unpickled by the layer; a different
scikit-learn (or numpy) between the two breaks ``predict_proba`` (see platform-facts), so the
layer never states versions of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["DEFAULT_REQUIREMENTS", "RUNTIME_PACKAGES", "PinError", "read_pins", "runtime_pins"]

DEFAULT_REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements-train.txt"

#: What the API imports at run time, and what those pull in (scikit-learn imports narwhals
#: when it is imported; joblib needs cloudpickle): all pinned, so the layer installs no version
#: of its own choosing. pandas, matplotlib and boto3 stay out: the API never imports the first
#: two, and the Lambda runtime already bundles boto3.
RUNTIME_PACKAGES = (
    "scikit-learn",
    "numpy",
    "scipy",
    "joblib",
    "threadpoolctl",
    "narwhals",
    "cloudpickle",
)

_PIN_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)\s*(?:[;#].*)?$")


class PinError(ValueError):
    """A runtime package is missing from the requirements file or is not pinned with ``==``."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(requirements: Path = DEFAULT_REQUIREMENTS) -> dict[str, str]:
    """Every ``name==version`` line of a requirements file, keyed by canonical name.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.txt"
    >>> _ = p.write_text("# c\\nScikit_Learn==1.7.2\\nnumpy>=2\\n")
    >>> read_pins(p)
    {'scikit-learn': '1.7.2'}
    """
    pins: dict[str, str] = {}
    for line in Path(requirements).read_text().splitlines():
        match = _PIN_RE.match(line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def runtime_pins(
    requirements: Path = DEFAULT_REQUIREMENTS, packages: tuple[str, ...] = RUNTIME_PACKAGES
) -> list[str]:
    """``name==version`` requirement strings for the layer, in ``packages`` order.

    Raises :class:`PinError` naming every runtime package that is not pinned exactly.
    """
    pins = read_pins(requirements)
    missing = [name for name in packages if _canonical(name) not in pins]
    if missing:
        raise PinError(
            f"{requirements} must pin {', '.join(missing)} with '==' (the layer installs "
            f"exactly the training versions)"
        )
    return [f"{name}=={pins[_canonical(name)]}" for name in packages]

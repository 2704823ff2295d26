"""What the trainer may import from the API's ``chalicelib``: the contracts, nothing of the service.

Allowed: the format modules the two sides share (the registry's and the feedback store's),
the S3 error helper, and the modules that published pickles name (a model must unpickle
wherever it was trained). Which modules pickles name is read from the fixture models, the
persistence contract, so the list cannot drift from what is really published.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = {
    "chalicelib.capture_format",
    "chalicelib.registry_format",
    "chalicelib.feedback_format",
    "chalicelib.metrics_format",
    "chalicelib.s3_errors",
}
_MODULE = re.compile(rb"chalicelib\.[a-z_][a-z0-9_]*")


def named_by_pickles() -> set[str]:
    """The ``chalicelib`` modules the fixture models' pickles refer to.

    A pickle names each class by module and name in plain text (joblib's inline arrays
    stop ``pickletools`` partway, so the bytes are searched).
    """
    found: set[str] = set()
    for path in sorted((ROOT / "tests" / "fixtures" / "models").glob("*/*.pkl")):
        found.update(match.decode() for match in _MODULE.findall(path.read_bytes()))
    return found


def chalicelib_imports(source: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``chalicelib`` module ``source`` imports, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "chalicelib":  # from chalicelib import features
                found += [(node.lineno, f"chalicelib.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] == "chalicelib"]


def test_the_pickles_name_the_model_classes_modules() -> None:
    assert named_by_pickles() == {
        "chalicelib.features",
        "chalicelib.vectorizer",
        "chalicelib.experts",
    }


def test_the_checker_sees_every_form_of_import() -> None:
    source = (
        "import chalicelib.holder\n"
        "from chalicelib import settings, features\n"
        "def f():\n"
        "    from chalicelib.model import LiveModel\n"
        "import chalicelib_not_ours\n"
    )
    assert chalicelib_imports(source) == [
        (1, "chalicelib.holder"),
        (2, "chalicelib.settings"),
        (2, "chalicelib.features"),
        (4, "chalicelib.model"),
    ]


def test_the_trainer_imports_only_formats_pickled_modules_and_s3_errors() -> None:
    allowed = SHARED | named_by_pickles()
    files = sorted((ROOT / "trainer").glob("*.py"))
    assert files
    breaches = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in chalicelib_imports(path.read_text(encoding="utf-8"))
        if module not in allowed
    ]
    assert breaches == [], f"the trainer may import only {sorted(allowed)} from chalicelib"

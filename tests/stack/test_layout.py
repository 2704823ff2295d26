"""The two halves of ``stack`` stay apart: the AWS deploy and the local stack share only
the top-level modules (``stack``, ``stack.processes``, ``stack.handoff``, ``stack.capture``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stack import REPO_ROOT

#: Each entry point, and the half of the package it must not import.
APART = {
    "stack.aws.deploy": "stack.local",
    "stack.aws.destroy": "stack.local",
    "stack.local.demo": "stack.aws",
}


def _imported_by(module: str) -> list[str]:
    """The ``stack`` modules a fresh interpreter holds after importing ``module``."""
    code = (
        f"import json, sys, {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('stack'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(("module", "other_half"), APART.items())
def test_an_entry_point_imports_nothing_of_the_other_half(module: str, other_half: str) -> None:
    imported = _imported_by(module)
    assert module in imported  # what it checks is really there
    assert [m for m in imported if m == other_half or m.startswith(other_half + ".")] == []

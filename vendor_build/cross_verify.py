"""Verify a layer against another layer's answers instead of this environment's.

An arm64 layer is verified under emulation; the model it must load and the probabilities it
must reproduce can come from the building environment (when that has the layer's
scikit-learn) or, with this module, from the x86_64 layer of the same pins run natively: the
sample model is trained and pickled there, and its predictions are the reference. That is
also the deployment's own path, a model pickled on x86_64 and served on arm64.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vendor_build import sample_model
from vendor_build.sample_model import CHECK_EXAMPLES, SPAM_LABEL
from vendor_build.sandbox import SandboxError, SandboxSpec, run_sandbox
from vendor_build.targets import find_interpreter
from vendor_build.verify import (
    API_IMPORTS,
    FUNCTION_LIB,
    VerifyError,
    VerifyResult,
    unpack_layer,
    verify_layer,
)

__all__ = ["reference_from_layer", "verify_against_layer"]


def _task_dir(task: Path) -> Path:
    """/var/task for the reference run: the API's chalicelib and the sample-model trainer."""
    shutil.copytree(FUNCTION_LIB, task / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(sample_model.__file__, task / "sample_model.py")
    return task


def reference_from_layer(
    reference_zip: Path,
    work: Path,
    *,
    python_version: str,
    python: str | Sequence[str] | None = None,
    model_dir: Path | None = None,
    spam_label: object = SPAM_LABEL,
) -> tuple[Path, list[float]]:
    """Run ``reference_zip`` in an isolated interpreter; return a model and its probabilities.

    Without ``model_dir`` the sample model is trained and pickled there, into
    ``work/model``. Returns (the model's folder, spam probabilities of ``CHECK_EXAMPLES``).
    """
    work = Path(work)
    opt = unpack_layer(reference_zip, work / "reference-opt")
    task = _task_dir(work / "reference-task")
    init, init_args = None, ()
    if model_dir is None:
        model_dir = work / "model"
        init, init_args = "sample_model.train_sample_model", (str(model_dir),)
    spec = SandboxSpec(
        opt=opt,
        task=task,
        python_version=python_version,
        imports=API_IMPORTS,
        init=init,
        init_args=init_args,
        predict={
            "model_dir": str(model_dir),
            "spam_label": spam_label,
            "examples": [list(example) for example in CHECK_EXAMPLES],
        },
    )
    try:
        run = run_sandbox(
            spec,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            python=python or find_interpreter(python_version),
        )
    except SandboxError as exc:
        raise VerifyError(f"the reference layer {reference_zip} failed: {exc}") from exc
    if run.report.get("leaks"):
        raise VerifyError(f"the reference run loaded modules from elsewhere: {run.report['leaks']}")
    return Path(model_dir), [float(p["spam_probability"]) for p in run.report["predictions"]]


def verify_against_layer(
    zip_path: Path,
    reference_zip: Path,
    *,
    python_version: str,
    python: str | Sequence[str] | None = None,
    reference_python: str | None = None,
    model_dir: Path | None = None,
    spam_label: object = SPAM_LABEL,
    repeat: int = 1,
    timing_label: str = "as built",
    echo: bool = True,
) -> VerifyResult:
    """:func:`~vendor_build.verify.verify_layer` with model and reference from ``reference_zip``.

    ``python`` runs ``zip_path`` (e.g. the emulated arm64 interpreter); ``reference_python``
    runs ``reference_zip`` (default: a native interpreter of ``python_version``).
    """
    with tempfile.TemporaryDirectory(prefix="layer-reference-") as scratch:
        model, reference = reference_from_layer(
            reference_zip,
            Path(scratch),
            python_version=python_version,
            python=reference_python,
            model_dir=model_dir,
            spam_label=spam_label,
        )
        result = verify_layer(
            zip_path,
            model_dir=model,
            spam_label=spam_label,
            reference=reference,
            repeat=repeat,
            compare_without_bytecode=False,
            python=python,
            python_version=python_version,
            timing_label=timing_label,
            echo=echo,
        )
    result.notes.append(
        f"model and reference probabilities from {reference_zip} run natively "
        f"(python{python_version})"
    )
    return result

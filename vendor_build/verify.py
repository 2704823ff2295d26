"""Prove a layer works the way Lambda will load it, and time its cold import.

The layer is unzipped into a folder standing for ``/opt``, made read-only, and imported by
a fresh ``python3.13 -I -S -B`` that sees only the standard library and that folder (see
``vendor_build.sandbox``). A model is unpickled and must predict known spam and ham with the same
probabilities as the building environment; any ImportError, leaked module or wrong
prediction fails loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vendor_build.runtime import PYTHON_VERSION
from vendor_build.sample_model import CHECK_EXAMPLES, SPAM_LABEL, train_sample_model
from vendor_build.sandbox import SandboxError, SandboxSpec, run_sandbox

__all__ = [
    "ColdImport",
    "VerifyError",
    "VerifyResult",
    "make_read_only",
    "run_probe",
    "time_cold_import",
    "unpack_layer",
    "verify_layer",
]

#: What the API imports from the layer: numpy, scipy.sparse, joblib and the scikit-learn
#: modules its model unpickles.
API_IMPORTS = (
    "numpy",
    "scipy.sparse",
    "joblib",
    "sklearn.feature_extraction.text",
    "sklearn.linear_model",
    "sklearn.pipeline",
)
#: The function code that ships beside the layer in /var/task: a trainer model's vectorizer
#: pickles a reference to ``chalicelib.features``, so the probe needs it as Lambda has it.
FUNCTION_LIB = Path(__file__).resolve().parent.parent / "spam_api" / "chalicelib"


class VerifyError(RuntimeError):
    """The layer failed an import, leaked a module, or predicted wrongly."""


@dataclass
class ColdImport:
    """Cold-import timings of the API's modules in fresh interpreters (seconds)."""

    label: str
    import_s: list[float]
    process_s: list[float]
    import_cpu_s: list[float] = field(default_factory=list)

    @property
    def median_import_s(self) -> float:
        """Median time of the imports inside the interpreter."""
        return statistics.median(self.import_s)

    @property
    def median_import_cpu_s(self) -> float:
        """Median CPU time of the imports: steadier than wall time on a busy machine."""
        return statistics.median(self.import_cpu_s)

    @property
    def median_process_s(self) -> float:
        """Median wall time of the whole process (interpreter start + imports + exit)."""
        return statistics.median(self.process_s)

    def summary(self) -> dict[str, object]:
        """JSON-ready numbers."""
        return {
            "label": self.label,
            "median_import_s": round(self.median_import_s, 3),
            "median_import_cpu_s": round(self.median_import_cpu_s, 3),
            "median_process_s": round(self.median_process_s, 3),
            "import_s": [round(x, 3) for x in self.import_s],
            "import_cpu_s": [round(x, 3) for x in self.import_cpu_s],
            "process_s": [round(x, 3) for x in self.process_s],
        }


@dataclass
class VerifyResult:
    """What verify saw: versions, predictions, timings."""

    zip_path: str
    versions: dict[str, str]
    predictions: list[dict[str, object]]
    cold_imports: list[ColdImport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """JSON-ready summary."""
        data = asdict(self)
        data["cold_imports"] = [timing.summary() for timing in self.cold_imports]
        return data


def unpack_layer(zip_path: Path, opt_dir: Path) -> Path:
    """Extract a layer zip into ``opt_dir`` (which stands for /opt). Returns ``opt_dir``."""
    opt_dir = Path(opt_dir)
    opt_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(opt_dir)
    return opt_dir


def make_read_only(root: Path, read_only: bool = True) -> None:
    """chmod a tree read-only (like Lambda's /opt), or back to writable."""
    for path in [Path(root), *Path(root).rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222 if read_only else mode | 0o200)


def run_probe(
    opt_dir: Path,
    *,
    python: str | Sequence[str] | None = None,
    python_version: str = PYTHON_VERSION,
    model_dir: Path | None = None,
    spam_label: object = SPAM_LABEL,
    examples: Sequence[tuple[str, str]] = CHECK_EXAMPLES,
    task_dir: Path | None = None,
    imports: Sequence[str] | None = None,
) -> tuple[dict[str, object], float]:
    """Import (and, given ``model_dir``, predict) with only the layer and the stdlib.

    Returns the sandbox's report and the process's wall seconds.
    """
    predict = None
    if model_dir is not None:
        predict = {
            "model_dir": str(model_dir),
            "spam_label": spam_label,
            "examples": [list(example) for example in examples],
        }
    spec = SandboxSpec(
        opt=Path(opt_dir),
        task=task_dir,
        python_version=python_version,
        imports=tuple(imports or API_IMPORTS),
        predict=predict,
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    try:
        run = run_sandbox(spec, env=env, python=python)
    except SandboxError as exc:
        raise VerifyError(f"the layer failed in the isolated interpreter: {exc}") from exc
    return run.report, run.seconds


def _count_bytecode(root: Path) -> int:
    return sum(1 for _ in Path(root).rglob("*.pyc"))


def time_cold_import(
    opt_dir: Path,
    *,
    label: str,
    repeat: int = 3,
    python: str | Sequence[str] | None = None,
    python_version: str = PYTHON_VERSION,
    imports: Sequence[str] | None = None,
) -> ColdImport:
    """Import the API's modules ``repeat`` times, each in a new interpreter, on a read-only tree.

    ``imports`` defaults to :data:`API_IMPORTS`.
    The page cache is warm after the first run (Lambda's is not), so these are the costs of
    finding, unmarshalling or compiling and executing modules, not of disk reads.
    """
    before = _count_bytecode(opt_dir)
    timing = ColdImport(label=label, import_s=[], process_s=[])
    for _ in range(repeat):
        result, elapsed = run_probe(
            opt_dir, python=python, python_version=python_version, imports=imports
        )
        timing.import_s.append(float(result["init_s"]))  # type: ignore[arg-type]
        timing.import_cpu_s.append(float(result["init_cpu_s"]))  # type: ignore[arg-type]
        timing.process_s.append(elapsed)
    if _count_bytecode(opt_dir) != before:
        raise VerifyError(f"{label}: the interpreter wrote bytecode into the read-only layer")
    return timing


def _model_reference(model_dir: Path, examples: Sequence[tuple[str, str]], spam_label: object):
    """Probabilities the building environment computes, to compare with the layer's."""
    import joblib

    vectorizer = joblib.load(model_dir / "vectorizer.pkl")
    model = joblib.load(model_dir / "spam_model.pkl")
    classes = [str(c) for c in model.classes_]
    if str(spam_label) not in classes:
        raise VerifyError(
            f"spam label {spam_label!r} is not a class of the model ({classes}); pass spam_label"
        )
    column = classes.index(str(spam_label))
    texts = [text for text, _ in examples]
    return [float(p) for p in model.predict_proba(vectorizer.transform(texts))[:, column]]


def _spam_label_for(model_dir: Path) -> object:
    """The spam class: from a manifest's ``labels`` if the folder has one, else ``"spam"``."""
    for name in ("model.json", "manifest.json", "current.json"):  # trainer out dir, registry
        path = model_dir / name
        if path.is_file():
            labels = json.loads(path.read_text()).get("labels") or {}
            if "spam" in labels:
                return labels["spam"]
    return SPAM_LABEL


def verify_layer(
    zip_path: Path,
    *,
    model_dir: Path | None = None,
    spam_label: object | None = None,
    repeat: int = 3,
    compare_without_bytecode: bool = True,
    python: str | Sequence[str] | None = None,
    python_version: str = PYTHON_VERSION,
    echo: bool = True,
    function_lib: Path | None = FUNCTION_LIB,
    reference: Sequence[float] | None = None,
    timing_label: str = "as built",
) -> VerifyResult:
    """Unzip as /opt, import and predict in an isolated interpreter, time the cold import.

    ``reference`` holds the spam probabilities of :data:`CHECK_EXAMPLES` the layer must
    reproduce; by default this environment computes them from ``model_dir``'s model (see
    ``vendor_build.cross_verify`` for a model and reference from another layer instead).

    Raises :class:`VerifyError` on an ImportError, a module loaded from outside the layer
    and the standard library, a wrong prediction, or probabilities that differ from the
    building environment's.
    """
    zip_path = Path(zip_path)
    with tempfile.TemporaryDirectory(prefix="layer-verify-") as scratch:
        work = Path(scratch)
        opt = unpack_layer(zip_path, work / "opt")
        if model_dir is None:
            model_dir = train_sample_model(work / "model")
        model_dir = Path(model_dir)
        label = spam_label if spam_label is not None else _spam_label_for(model_dir)
        if reference is None:
            reference = _model_reference(model_dir, CHECK_EXAMPLES, label)
        task = None
        if function_lib is not None:  # /var/task: the API's own pure-Python chalicelib
            task = work / "task"
            shutil.copytree(
                function_lib,
                task / "chalicelib",
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        make_read_only(opt)
        try:
            result, _ = run_probe(
                opt,
                python=python,
                python_version=python_version,
                model_dir=model_dir,
                spam_label=label,
                task_dir=task,
            )
            if result.get("leaks"):
                raise VerifyError(f"modules loaded from outside the layer: {result['leaks']}")
            predictions = list(result["predictions"])  # type: ignore[arg-type]
            wrong = [p for p in predictions if p["predicted"] != p["expected"]]
            drift = [
                (p["text"], p["spam_probability"], ref)
                for p, ref in zip(predictions, reference, strict=True)
                if abs(float(p["spam_probability"]) - ref) > 1e-9
            ]
            if wrong or drift:
                raise VerifyError(f"wrong predictions: {wrong}; differing from the venv: {drift}")
            outcome = VerifyResult(str(zip_path), dict(result["versions"]), predictions)
            if repeat >= 1:  # 0: no timing (under emulation each run costs minutes)
                outcome.cold_imports.append(
                    time_cold_import(
                        opt,
                        label=timing_label,
                        repeat=repeat,
                        python=python,
                        python_version=python_version,
                    )
                )
            if compare_without_bytecode and repeat >= 1:
                _time_without_bytecode(opt, outcome, repeat, python, python_version)
        finally:
            make_read_only(opt, read_only=False)
    if echo:
        print(_format(outcome))
    return outcome


def _time_without_bytecode(
    opt: Path,
    outcome: VerifyResult,
    repeat: int,
    python: str | Sequence[str] | None,
    python_version: str,
) -> None:
    pyc = list(opt.rglob("*.pyc"))
    if not pyc:
        outcome.notes.append("the layer ships no bytecode: 'as built' is the bytecode-less time")
        return
    if any(p.parent.name != "__pycache__" for p in pyc):
        outcome.notes.append("sourceless layer: its bytecode cannot be removed for a comparison")
        return
    make_read_only(opt, read_only=False)
    for cache in sorted({p.parent for p in pyc}):
        shutil.rmtree(cache)
    make_read_only(opt)
    outcome.cold_imports.append(
        time_cold_import(
            opt,
            label="without __pycache__",
            repeat=repeat,
            python=python,
            python_version=python_version,
        )
    )


def _format(outcome: VerifyResult) -> str:
    lines = [f"verify OK: {outcome.zip_path}", f"versions: {outcome.versions}"]
    for p in outcome.predictions:
        lines.append(f"  {p['predicted']:>4} p(spam)={p['spam_probability']:.3f}  {p['text']}")
    for timing in outcome.cold_imports:
        lines.append(
            f"cold import ({timing.label}): {timing.median_import_s:.2f} s imports "
            f"({timing.median_import_cpu_s:.2f} s CPU), {timing.median_process_s:.2f} s whole "
            f"process (median of {len(timing.import_s)})"
        )
    lines.extend(f"note: {note}" for note in outcome.notes)
    return "\n".join(lines)

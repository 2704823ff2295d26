"""Fitted objects to registry bundles and local artifact folders, and back.

A local folder written by ``train --out DIR`` holds exactly what a publish uploads::

    DIR/vectorizer.pkl   joblib pickle (the API's vectorizer)
    DIR/spam_model.pkl   joblib pickle (the API's classifier)
    DIR/metrics.json     the full evaluation report
    DIR/model.json       threshold, labels, scikit-learn version, metrics summary
    DIR/metrics.png      precision-recall curve and confusion matrix (written by the CLI)

``publish DIR`` re-reads the bytes without unpickling them, so what was evaluated is
byte for byte what gets published.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import joblib
import sklearn
from chalicelib.registry_format import METRICS_NAME, MODEL_NAME, VECTORIZER_NAME

from trainer.errors import TrainerError
from trainer.model import LABELS
from trainer.registry import ModelBundle

__all__ = [
    "MODEL_INFO_NAME",
    "build_bundle",
    "dumps",
    "read_bundle",
    "write_bundle",
]

MODEL_INFO_NAME = "model.json"


def dumps(obj: Any) -> bytes:
    """A joblib pickle of ``obj`` as bytes (what ``joblib.load`` reads back)."""
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def build_bundle(
    vectorizer: Any,
    classifier: Any,
    threshold: float,
    metrics: Mapping[str, Any] | None = None,
    metrics_summary: Mapping[str, Any] | None = None,
) -> ModelBundle:
    """A publishable :class:`~trainer.registry.ModelBundle` from fitted objects.

    The classifier must have been fitted on 1 = spam, 0 = ham (as :mod:`trainer.model` does).
    """
    classes = sorted(str(c) for c in getattr(classifier, "classes_", []))
    if classes != sorted(str(v) for v in LABELS.values()):
        raise TrainerError(f"the classifier's classes are {classes}, expected [0, 1] (1 = spam)")
    return ModelBundle(
        vectorizer_pkl=dumps(vectorizer),
        model_pkl=dumps(classifier),
        metrics=dict(metrics or {}),
        threshold=float(threshold),
        labels=dict(LABELS),
        sklearn_version=sklearn.__version__,
        metrics_summary=dict(metrics_summary or {}),
    )


def write_bundle(bundle: ModelBundle, folder: str | Path) -> Path:
    """Write a bundle's files into ``folder`` (created if needed); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VECTORIZER_NAME).write_bytes(bundle.vectorizer_pkl)
    (folder / MODEL_NAME).write_bytes(bundle.model_pkl)
    (folder / METRICS_NAME).write_text(
        json.dumps(dict(bundle.metrics), indent=2, sort_keys=True) + "\n"
    )
    info = {
        "threshold": bundle.threshold,
        "labels": dict(bundle.labels),
        "sklearn_version": bundle.sklearn_version,
        "metrics_summary": dict(bundle.metrics_summary),
    }
    (folder / MODEL_INFO_NAME).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return folder


def read_bundle(folder: str | Path) -> ModelBundle:
    """Read back what :func:`write_bundle` wrote, as bytes; errors name the missing file."""
    folder = Path(folder)
    try:
        info = json.loads((folder / MODEL_INFO_NAME).read_text())
        metrics = json.loads((folder / METRICS_NAME).read_text())
        bundle = ModelBundle(
            vectorizer_pkl=(folder / VECTORIZER_NAME).read_bytes(),
            model_pkl=(folder / MODEL_NAME).read_bytes(),
            metrics=metrics,
            threshold=float(info["threshold"]),
            labels=dict(info["labels"]),
            sklearn_version=str(info["sklearn_version"]),
            metrics_summary=dict(info.get("metrics_summary", {})),
        )
    except FileNotFoundError as exc:
        raise TrainerError(
            f"{folder}: not a model folder written by 'train --out' ({exc.filename} is missing)"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainerError(f"{folder}: unreadable model folder ({exc})") from exc
    if bundle.sklearn_version != sklearn.__version__:
        raise TrainerError(
            f"{folder}: made with scikit-learn {bundle.sklearn_version}, but this environment "
            f"has {sklearn.__version__}; retrain with the pinned requirements-train.txt"
        )
    return bundle

"""Train, evaluate and publish the spam model to the S3 registry.

The command line is ``python -m trainer`` (:mod:`trainer.cli`). For other packages'
tests, two helpers build a publishable model in a couple of seconds, without CV::

    from trainer import fit_default, build_bundle, default_bundle
    vectorizer, classifier = fit_default(texts, labels)       # labels: "spam"/"ham" or 1/0
    bundle = build_bundle(vectorizer, classifier, threshold=0.5)
    bundle = default_bundle(texts, labels)                     # both steps at once

Names are imported lazily so that ``import trainer.registry`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["build_bundle", "default_bundle", "fit_default"]

_LAZY = {
    "build_bundle": "trainer.artifacts",
    "default_bundle": "trainer.artifacts",
    "fit_default": "trainer.model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")

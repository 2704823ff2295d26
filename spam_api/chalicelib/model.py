"""One loaded model version, immutable: vectorizer, classifier, manifest and what explains it.

``build_live_model`` checks that the artifacts form a working model (the spam class is
one of the classifier's classes, a probe text scores) and precomputes what ``explain``
needs (word-level feature names and the coefficient row), so scoring a request is one
``transform`` and one ``predict_proba`` on the whole batch.

A mixture of per-medium experts (``chalicelib.experts.MediumExperts``) is served the same
way; its explanation of a text uses the weights of the expert its gate picks for that text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chalicelib.registry import Artifacts, Pointer
from chalicelib.registry_format import Manifest, RegistryError

__all__ = ["InvalidModelError", "LiveModel", "Scored", "build_live_model"]

_PROBE = ["free entry to win a prize, call now", "see you at lunch tomorrow"]


class InvalidModelError(RegistryError):
    """The artifacts unpickled but do not form a model this API can serve."""


@dataclass(frozen=True)
class _Explainer:
    """Per-feature spam weights of word-level features (0 elsewhere) and their tokens.

    ``weights`` has one row per expert: one row for a plain classifier, one per medium for
    a mixture, whose ``route(matrix)`` says which row explains which text.
    """

    weights: np.ndarray  # (experts, features): coefficient toward spam, 0.0 for non-words
    tokens: np.ndarray  # the word n-gram of each feature ("" for non-word features)


@dataclass(frozen=True)
class Scored:
    """The answer for one text."""

    spam_probability: float
    is_spam: bool
    explanation: list[dict[str, Any]] | None = None


@dataclass(frozen=True, eq=False)
class LiveModel:
    """A verified, loaded model version. Never mutated: a new version is a new object."""

    manifest: Manifest
    vectorizer: Any
    classifier: Any
    spam_index: int
    threshold: float
    etag: str
    legacy: bool
    loaded_at: float
    _explainer: _Explainer | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def can_explain(self) -> bool:
        return self._explainer is not None

    def score(
        self, texts: Sequence[str], *, explain: bool = False, top_n: int = 10
    ) -> list[Scored]:
        """Score ``texts`` in one vectorised call; optionally explain each verdict."""
        matrix = self.vectorizer.transform(list(texts))
        probabilities = self.classifier.predict_proba(matrix)[:, self.spam_index]
        if explain and self._explainer is not None and not hasattr(matrix, "indptr"):
            from scipy import sparse

            matrix = sparse.csr_matrix(matrix)
        routes = self._routes(matrix) if explain else None
        results: list[Scored] = []
        for row, raw in enumerate(probabilities):
            probability = float(raw)
            if not math.isfinite(probability):
                raise InvalidModelError(f"model {self.version} produced a non-finite probability")
            is_spam = probability >= self.threshold
            words = None
            if routes is not None:
                words = self._explain_row(matrix, row, int(routes[row]), is_spam, top_n)
            results.append(Scored(probability, is_spam, words))
        return results

    def _routes(self, matrix: Any) -> np.ndarray:
        """Which expert's weights explain each row (always 0 for a plain classifier)."""
        explainer = self._explainer
        if explainer is None or explainer.weights.shape[0] == 1:
            return np.zeros(matrix.shape[0], dtype=int)
        return np.asarray(self.classifier.route(matrix), dtype=int)

    def _explain_row(
        self, matrix: Any, row: int, expert: int, is_spam: bool, top_n: int
    ) -> list[dict[str, Any]]:
        explainer = self._explainer
        if explainer is None:
            return []
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        columns = matrix.indices[start:end]
        contributions = matrix.data[start:end] * explainer.weights[expert, columns]
        per_word: dict[str, float] = {}
        for column, contribution in zip(columns, contributions, strict=True):
            if contribution == 0.0:
                continue
            words = explainer.tokens[column].split()
            share = float(contribution) / len(words)
            for word in words:
                per_word[word] = per_word.get(word, 0.0) + share
        direction = 1.0 if is_spam else -1.0
        pushing = [(w, c) for w, c in per_word.items() if c * direction > 0]
        pushing.sort(key=lambda item: (-abs(item[1]), item[0]))
        return [{"word": w, "weight": round(c, 6)} for w, c in pushing[:top_n]]


def _feature_maker(transformer: Any) -> Any:
    """The step that makes the features: a Pipeline's last step, else the object itself."""
    steps = getattr(transformer, "steps", None)
    return _feature_maker(steps[-1][1]) if steps else transformer


def _tokens_of(transformer: Any) -> np.ndarray:
    """The word n-gram behind each feature of one vectorizer, "" for non-word features.

    A plain word vectorizer's names are its words; an analyzer that knows which of its
    features are words (``chalicelib.features.WordCharAnalyzer.word_of``) says so itself.
    """
    maker = _feature_maker(transformer)
    if callable(getattr(maker, "word_tokens_out", None)):  # chalicelib.vectorizer's own
        return np.asarray(maker.word_tokens_out(), dtype=object)
    names = np.asarray(transformer.get_feature_names_out(), dtype=object)
    analyzer = getattr(maker, "analyzer", None)
    if analyzer == "word":
        return names
    word_of = getattr(analyzer, "word_of", None)
    if callable(word_of):
        return np.asarray([word_of(str(name)) for name in names], dtype=object)
    return np.full(len(names), "", object)


def _word_tokens(vectorizer: Any) -> np.ndarray | None:
    """Each output feature's word n-gram, "" where the feature is not word-level."""
    transformers = getattr(vectorizer, "transformer_list", None)
    if transformers is None:
        tokens = _tokens_of(vectorizer)
        return tokens if (tokens != "").any() else None
    parts = [
        _tokens_of(transformer)
        for _name, transformer in transformers
        if transformer not in ("drop", None)
    ]
    return np.concatenate(parts) if parts else None


def _spam_weights(classifier: Any, spam_index: int) -> np.ndarray | None:
    """``(experts, features)`` weights toward spam, or None when the model has none."""
    if callable(getattr(classifier, "route", None)) and callable(
        getattr(classifier, "spam_weights", None)
    ):
        return np.asarray(classifier.spam_weights(), dtype=float)  # a MediumExperts mixture
    coef = getattr(classifier, "coef_", None)
    if coef is None:
        return None
    coef = np.asarray(coef, dtype=float)
    if coef.ndim != 2:
        return None
    # binary: one row, pushing toward classes_[1]; multiclass: one row per class
    binary_sign = 1.0 if spam_index == 1 else -1.0
    return (coef[0] * binary_sign if coef.shape[0] == 1 else coef[spam_index])[np.newaxis, :]


def _build_explainer(vectorizer: Any, classifier: Any, spam_index: int) -> _Explainer | None:
    weights = _spam_weights(classifier, spam_index)
    if weights is None or weights.ndim != 2:
        return None
    try:
        tokens = _word_tokens(vectorizer)
    except (AttributeError, ValueError, TypeError):
        return None
    if tokens is None or len(tokens) != weights.shape[1]:
        return None
    mask = tokens != ""
    return _Explainer(weights=np.where(mask, weights, 0.0), tokens=tokens)


def build_live_model(artifacts: Artifacts, *, loaded_at: float) -> LiveModel:
    """Check the unpickled artifacts form a working model and wrap them.

    Raises ``InvalidModelError`` when the classifier has no ``predict_proba``, the
    manifest's spam label is not one of its classes, or a probe text does not score.
    """
    pointer: Pointer = artifacts.pointer
    manifest = pointer.manifest
    vectorizer, classifier = artifacts.vectorizer, artifacts.classifier
    for obj, method, role in (
        (vectorizer, "transform", "vectorizer"),
        (classifier, "predict_proba", "classifier"),
    ):
        if not callable(getattr(obj, method, None)):
            raise InvalidModelError(f"model {manifest.version}: the {role} has no {method}()")
    classes = list(getattr(classifier, "classes_", []))
    spam_label = manifest.labels["spam"]
    matches = [i for i, value in enumerate(classes) if value == spam_label]
    if len(matches) != 1 or manifest.labels["ham"] not in classes:
        raise InvalidModelError(
            f"model {manifest.version}: labels {manifest.labels} do not match the classifier's "
            f"classes {[str(c) for c in classes]}"
        )
    model = LiveModel(
        manifest=manifest,
        vectorizer=vectorizer,
        classifier=classifier,
        spam_index=matches[0],
        threshold=float(manifest.threshold),
        etag=pointer.etag,
        legacy=pointer.legacy,
        loaded_at=loaded_at,
        _explainer=_build_explainer(vectorizer, classifier, matches[0]),
    )
    try:
        probe = model.score(_PROBE, explain=True)
    except InvalidModelError:
        raise
    except Exception as exc:
        raise InvalidModelError(
            f"model {manifest.version} could not score a probe text "
            f"({type(exc).__name__}); it does not work with this runtime"
        ) from exc
    if len(probe) != len(_PROBE):
        raise InvalidModelError(f"model {manifest.version} returned the wrong number of scores")
    return model

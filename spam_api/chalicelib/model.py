"""One loaded model version, immutable: vectorizer, classifier, manifest and what explains it.

``build_live_model`` checks that the artifacts form a working model (the spam class is
one of the classifier's classes, a probe text scores) and precomputes what ``explain``
needs, so scoring a request is one ``transform`` and one ``predict_proba`` on the whole
batch.

An explanation lists the words that pushed a text's verdict: for each word-level feature
of the text, its TF-IDF value times the weight toward spam of the expert that explains
the text. Each artifact answers one question, stated as a protocol:

- ``WordFeatures``, the vectorizer: which word n-gram is behind each output feature;
- ``ExpertWeights``, the classifier: the spam weights of each expert, and which expert
  explains each row (a plain classifier is one expert; a mixture of per-medium experts,
  ``chalicelib.experts.MediumExperts``, uses the expert its gate picks for that text).

What the trainer publishes today implements them itself
(``chalicelib.vectorizer.WordCharTfidfVectorizer``, ``MediumExperts``), except the plain
``LogisticRegression`` it publishes for one medium. That one, and the older shapes a
registry can still hold, go through small adapters: the tutorial's word
``TfidfVectorizer``, the trainer's ``TfidfVectorizer`` with a
``chalicelib.features.WordCharAnalyzer`` and its ``FeatureUnion`` of a word and a
character vectorizer. Any other model scores but is not explained.
``tests/fixtures/models`` holds one published pair of each shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from chalicelib.features import WordCharAnalyzer
from chalicelib.registry import Artifacts, Pointer, PointerRead, PointerTag
from chalicelib.registry_format import Manifest, RegistryError

__all__ = [
    "ExpertWeights",
    "InvalidModelError",
    "LiveModel",
    "Scored",
    "WordFeatures",
    "build_live_model",
]

_PROBE = ["free entry to win a prize, call now", "see you at lunch tomorrow"]


class InvalidModelError(RegistryError):
    """The artifacts unpickled but do not form a model this API can serve.

    Its messages name versions, methods and labels, never keys, so clients may read them
    unless a ``public`` one is given.
    """

    def __init__(self, message: str, *, public: str | None = None) -> None:
        super().__init__(message, public=public or message)


@runtime_checkable
class WordFeatures(Protocol):
    """The vectorizer side of an explanation (``WordCharTfidfVectorizer`` implements it)."""

    def word_tokens_out(self) -> np.ndarray:
        """One entry per output column: its word n-gram ("free", "call now"), else ""."""
        ...


@runtime_checkable
class ExpertWeights(Protocol):
    """The classifier side of an explanation (``MediumExperts`` implements it)."""

    def spam_weights(self) -> np.ndarray:
        """``(experts, features)``: each expert's weight toward spam of every feature."""
        ...

    def route(self, X: Any) -> np.ndarray:
        """For each row of the feature matrix ``X``, the index of the expert explaining it."""
        ...


# -- adapters for the shapes that do not implement the protocols themselves ----------------


@dataclass(frozen=True)
class _NamedFeatures:
    """``WordFeatures`` of scikit-learn vectorizers, read from their feature names.

    ``parts`` are the vectorizers whose columns are side by side in the output: one for a
    plain ``TfidfVectorizer``, a ``FeatureUnion``'s parts in order. A part's features are
    words when its analyzer is ``"word"`` or a ``WordCharAnalyzer`` (its ``word__`` ones);
    a character analyzer has none.
    """

    parts: tuple[Any, ...]

    def word_tokens_out(self) -> np.ndarray:
        return np.concatenate([self._tokens(part) for part in self.parts])

    @staticmethod
    def _tokens(part: Any) -> np.ndarray:
        names = np.asarray(part.get_feature_names_out(), dtype=object)
        analyzer = part.analyzer
        if isinstance(analyzer, WordCharAnalyzer):
            return np.asarray([analyzer.word_of(str(name)) for name in names], dtype=object)
        if analyzer == "word":
            return names
        return np.full(names.size, "", dtype=object)


@dataclass(frozen=True)
class _OneExpert:
    """``ExpertWeights`` of a ``LogisticRegression``: its coefficients, signed toward spam."""

    classifier: Any
    spam_index: int

    def spam_weights(self) -> np.ndarray:
        coef = np.asarray(self.classifier.coef_, dtype=float)
        # binary: one row, pushing toward classes_[1] (0 is spam in the tutorial's model);
        # more classes: one row per class
        if coef.shape[0] == 1:
            return coef if self.spam_index == 1 else -coef
        return coef[self.spam_index][np.newaxis, :]

    def route(self, X: Any) -> np.ndarray:
        return np.zeros(X.shape[0], dtype=int)


def _word_features(vectorizer: Any) -> WordFeatures | None:
    """The vectorizer as ``WordFeatures``, or None for a shape nobody publishes."""
    if isinstance(vectorizer, WordFeatures):
        return vectorizer
    # Imported here, not at module level, to keep scikit-learn out of this module's import;
    # a model of either shape has already imported its module while unpickling.
    from sklearn.feature_extraction.text import CountVectorizer  # TfidfVectorizer's base

    if isinstance(vectorizer, CountVectorizer):
        return _NamedFeatures((vectorizer,))
    from sklearn.pipeline import FeatureUnion

    if isinstance(vectorizer, FeatureUnion):
        parts = tuple(part for _name, part in vectorizer.transformer_list)
        if all(isinstance(part, CountVectorizer) for part in parts):
            return _NamedFeatures(parts)
    return None


def _expert_weights(classifier: Any, spam_index: int) -> ExpertWeights | None:
    """The classifier as ``ExpertWeights``, or None when it has no per-feature weights."""
    if isinstance(classifier, ExpertWeights):
        return classifier
    from sklearn.linear_model import LogisticRegression  # imported as _word_features does

    if isinstance(classifier, LogisticRegression):
        return _OneExpert(classifier, spam_index)
    return None


# -- the explainer and the live model ------------------------------------------------------


@dataclass(frozen=True)
class _Explainer:
    """Per-feature spam weights of the word-level features, precomputed at load."""

    tokens: np.ndarray  # the word n-gram of each feature ("" for non-word features)
    weights: np.ndarray  # (experts, features): weight toward spam, 0.0 for non-words
    experts: ExpertWeights  # which row of ``weights`` explains which text

    @classmethod
    def build(cls, vectorizer: Any, classifier: Any, spam_index: int) -> _Explainer | None:
        """None when either artifact cannot say its part, or their features differ."""
        words = _word_features(vectorizer)
        experts = _expert_weights(classifier, spam_index)
        if words is None or experts is None:
            return None
        try:
            tokens = np.asarray(words.word_tokens_out(), dtype=object)
            weights = np.asarray(experts.spam_weights(), dtype=float)
        except (AttributeError, ValueError):  # not fitted: the probe text reports it
            return None
        is_word = tokens != ""
        if not is_word.any() or weights.ndim != 2 or weights.shape[1] != tokens.size:
            return None
        return cls(tokens, np.where(is_word, weights, 0.0), experts)

    def words(
        self, matrix: Any, row: int, expert: int, is_spam: bool, top_n: int
    ) -> list[dict[str, Any]]:
        """The ``top_n`` words of one row of the (CSR) TF-IDF matrix that pushed its verdict.

        An n-gram's contribution is shared equally by its words; a word's weight is the sum
        of its shares.
        """
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        columns = matrix.indices[start:end]
        contributions = matrix.data[start:end] * self.weights[expert, columns]
        per_word: dict[str, float] = {}
        for column, contribution in zip(columns, contributions, strict=True):
            if contribution == 0.0:
                continue
            words = self.tokens[column].split()
            share = float(contribution) / len(words)
            for word in words:
                per_word[word] = per_word.get(word, 0.0) + share
        direction = 1.0 if is_spam else -1.0
        pushing = [(w, c) for w, c in per_word.items() if c * direction > 0]
        pushing.sort(key=lambda item: (-abs(item[1]), item[0]))
        return [{"word": w, "weight": round(c, 6)} for w, c in pushing[:top_n]]


@dataclass(frozen=True)
class Scored:
    """The answer for one text."""

    spam_probability: float
    is_spam: bool
    explanation: list[dict[str, Any]] | None = None

    @property
    def classification(self) -> str:
        """The verdict as the API's contract spells it."""
        return "SPAM" if self.is_spam else "HAM"


@dataclass(frozen=True, eq=False)
class LiveModel:
    """A verified, loaded model version. Never mutated: a new version is a new object."""

    manifest: Manifest
    vectorizer: Any
    classifier: Any
    spam_index: int
    threshold: float
    tag: PointerTag  # of the pointer it was loaded from
    loaded_at: float
    _explainer: _Explainer | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def legacy(self) -> bool:
        """Whether it is the tutorial's bucket-root pair rather than a registry version."""
        return self.tag.read is PointerRead.LEGACY

    @property
    def can_explain(self) -> bool:
        return self._explainer is not None

    def score(
        self, texts: Sequence[str], *, explain: bool = False, top_n: int = 10
    ) -> list[Scored]:
        """Score ``texts`` in one vectorised call; optionally explain each verdict.

        With ``explain``, a model that cannot be explained gives an empty explanation.
        """
        matrix = self.vectorizer.transform(list(texts))
        probabilities = self.classifier.predict_proba(matrix)[:, self.spam_index]
        explainer = self._explainer if explain else None
        experts = explainer.experts.route(matrix) if explainer is not None else None
        results: list[Scored] = []
        for row, raw in enumerate(probabilities):
            probability = float(raw)
            if not math.isfinite(probability):
                raise InvalidModelError(f"model {self.version} produced a non-finite probability")
            is_spam = probability >= self.threshold
            words = None
            if explainer is not None:
                words = explainer.words(matrix, row, int(experts[row]), is_spam, top_n)
            elif explain:
                words = []
            results.append(Scored(probability, is_spam, words))
        return results


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
        tag=pointer.tag,
        loaded_at=loaded_at,
        _explainer=_Explainer.build(vectorizer, classifier, matches[0]),
    )
    try:
        probe = model.score(_PROBE, explain=True)
    except InvalidModelError:
        raise
    except Exception as exc:
        public = (
            f"model {manifest.version} could not score a probe text; "
            f"it does not work with this runtime"
        )
        raise InvalidModelError(f"{public} ({exc!r})", public=public) from exc
    if len(probe) != len(_PROBE):
        raise InvalidModelError(f"model {manifest.version} returned the wrong number of scores")
    return model

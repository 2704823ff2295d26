"""The model: TF-IDF word and character n-grams into a logistic regression.

The vectorizer is one ``TfidfVectorizer`` whose analyzer,
``chalicelib.features.WordCharAnalyzer``, yields word and character n-grams in one pass.
A ``FeatureUnion`` of a word and a char vectorizer gives the same features but costs
about twice as much per request (each part pays the per-call overhead, plus the union's
dispatch and ``hstack``). It is a ``chalicelib.vectorizer.WordCharTfidfVectorizer``: a
``TfidfVectorizer`` that fits as usual and counts the same n-grams with numpy in
``transform`` (the same matrix, several times faster, most of all on batches). Both
classes ship with the API in ``chalicelib``, so the pickle loads wherever the API runs.
Its ``get_feature_names_out()`` returns

- ``word__<token>`` for word unigrams and ``word__<token> <token>`` for bigrams, lower-cased,
  tokens matching ``\\b\\w+\\b`` (e.g. ``word__free``, ``word__call now``, ``word__4``);
- ``char__<n-gram>`` for 2- to 5-character n-grams inside word boundaries, lower-cased and
  padded with a space at word edges (e.g. ``char__ fre``, ``char__ree ``).

Column *i* of ``transform()`` is feature name *i* and ``classifier.coef_[0][i]`` is its
weight towards spam, so an explanation can rank ``word__`` features by
``tfidf * coef`` and highlight those tokens in the text.

The classifier is a ``LogisticRegression`` fitted on labels 1 = spam, 0 = ham (the
registry's ``{"spam": 1, "ham": 0}``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from chalicelib.features import WordCharAnalyzer
from chalicelib.vectorizer import WordCharTfidfVectorizer
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from trainer.data import normalize_label

__all__ = [
    "DEFAULT_PARAMS",
    "LABELS",
    "PARAM_GRID",
    "CandidateScore",
    "cross_validate_grid",
    "encode_labels",
    "fit_model",
    "make_classifier",
    "make_vectorizer",
]

#: Class values the classifier is fitted on (written into the manifest).
LABELS: dict[str, int] = {"spam": 1, "ham": 0}
#: Hyper-parameters CV picks from (kept small: the whole run must stay under a minute).
PARAM_GRID: tuple[dict[str, Any], ...] = tuple(
    {"C": c, "class_weight": w} for c in (10.0, 30.0, 100.0) for w in (None, "balanced")
)
#: A setting CV rates well on the SMS collection: what :func:`make_classifier` starts from.
DEFAULT_PARAMS: dict[str, Any] = {"C": 30.0, "class_weight": None}


def make_vectorizer(
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] = (2, 5),
    min_df: int = 2,
) -> WordCharTfidfVectorizer:
    """A fresh, unfitted word + character TF-IDF vectorizer (see the module docstring)."""
    return WordCharTfidfVectorizer(
        analyzer=WordCharAnalyzer(word_ngrams=word_ngrams, char_ngrams=char_ngrams),
        min_df=min_df,
        sublinear_tf=True,
        dtype=np.float32,
    )


def make_classifier(params: Mapping[str, Any] | None = None) -> LogisticRegression:
    """A logistic regression with ``params`` (``C``, ``class_weight``) over the defaults."""
    settings = {
        "solver": "liblinear",
        "max_iter": 1000,
        "random_state": 0,  # liblinear may shuffle; a fixed seed keeps runs reproducible
        **DEFAULT_PARAMS,
        **(params or {}),
    }
    return LogisticRegression(**settings)


def encode_labels(labels: Iterable[str | int]) -> np.ndarray:
    """Labels (``"spam"``/``"ham"``, 1/0, any case) as the class values in :data:`LABELS`.

    >>> encode_labels(["spam", "HAM", 1, "0"]).tolist()
    [1, 0, 1, 0]
    """
    return np.array(
        [LABELS[normalize_label(str(x), f"label {i}")] for i, x in enumerate(labels)], dtype=int
    )


def fit_model(
    texts: Sequence[str], y: Sequence[int], params: Mapping[str, Any] | None = None
) -> tuple[TfidfVectorizer, LogisticRegression]:
    """Fit a vectorizer and a classifier on ``texts`` with labels ``y`` (1 = spam)."""
    vectorizer = make_vectorizer()
    features = vectorizer.fit_transform(list(texts))
    classifier = make_classifier(params).fit(features, np.asarray(y, dtype=int))
    return vectorizer, classifier


@dataclass(frozen=True)
class CandidateScore:
    """Out-of-fold spam probabilities of one hyper-parameter setting.

    ``cpu_seconds`` is the CPU time of the whole grid's CV (the same for every candidate),
    counted inside the worker processes, where the parent cannot see it.
    """

    params: Mapping[str, Any]
    oof_scores: np.ndarray
    cpu_seconds: float = 0.0


def _fold_scores(
    texts: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    grid: Sequence[Mapping[str, Any]],
    vectorizer_params: Mapping[str, Any],
) -> tuple[list[np.ndarray], float]:
    started = time.process_time()
    vectorizer = make_vectorizer(**vectorizer_params)  # fitted on this fold's training part
    x_train = vectorizer.fit_transform(texts[train].tolist())
    x_test = vectorizer.transform(texts[test].tolist())
    scores = [
        make_classifier(params).fit(x_train, y[train]).predict_proba(x_test)[:, 1]
        for params in grid
    ]
    return scores, time.process_time() - started


def cross_validate_grid(
    texts: Sequence[str],
    y: Sequence[int],
    grid: Sequence[Mapping[str, Any]] = PARAM_GRID,
    folds: int = 5,
    seed: int = 42,
    n_jobs: int = 2,
    vectorizer_params: Mapping[str, Any] | None = None,
) -> list[CandidateScore]:
    """Out-of-fold spam probabilities for every setting in ``grid`` (stratified k-fold).

    The vectorizer is fitted once per fold on that fold's training part and shared by
    all settings, which makes the grid cheap; it is the same as ``cross_val_predict``
    run once per setting with the same folds.
    """
    array = np.asarray(list(texts), dtype=object)
    labels = np.asarray(y, dtype=int)
    folder = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(folder.split(array, labels))
    per_fold = Parallel(n_jobs=n_jobs)(
        delayed(_fold_scores)(array, labels, train, test, grid, vectorizer_params or {})
        for train, test in splits
    )
    cpu = float(sum(seconds for _, seconds in per_fold))
    candidates = []
    for index, params in enumerate(grid):
        oof = np.zeros(labels.size, dtype=float)
        for (_, test), (scores, _) in zip(splits, per_fold, strict=True):
            oof[test] = scores[index]
        candidates.append(CandidateScore(params=dict(params), oof_scores=oof, cpu_seconds=cpu))
    return candidates

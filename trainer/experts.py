"""Training the mixture of per-medium experts (:class:`chalicelib.experts.MediumExperts`).

Used when the training data spans several media. The CV evaluates what is published:
in each fold one vectorizer (:func:`trainer.model.make_vectorizer`) is fitted on that
fold's training rows of every medium; on its features, each medium's expert is fitted
on that medium's rows only (once per setting of the grid) and the gate on all rows
(once per gate setting); every held-out row gets every expert's logit and the gate's
medium probabilities, so any mixture of the settings can be scored out of fold.

A *pooled* medium (``trainer.feedback``'s reports) is one with too few messages for an
expert of its own that knows what spam is: its expert learns from every row, the corpus's
and its own, and the corpus's experts never see its rows. How it learns was chosen once, on
error-driven reports in rounds (issue #25; the comparison is in the trainer's README), not
per run on the reports' own out-of-fold scores, which cannot tell settings apart on a
sample that is nearly all one label:

- every report is learnt (none is held out, ``trainer.train``), and each weighs
  ``REPORT_WEIGHT`` corpus messages, whatever their number, so every round moves the
  expert by what it adds and the first reports do not weigh the most;
- the reports' labels are balanced (:func:`report_weights`): people report the model's
  mistakes, so the reports' label mix says which mistakes it made, not how much spam the
  place gets. Unbalanced, 48 ham among 50 reports teach the expert "this place is ham"
  and its spam goes through; balanced, what every report of the place shares weighs the
  same on both sides, and only what tells its spam from its ham is learnt;
- its setting and threshold are chosen on the corpus's out-of-fold scores only (the
  reports join every fold's training and are never scored): the rule the corpus's own
  expert meets, on the corpus rows the reports' expert scores;
- the gate takes every medium as equally likely beforehand (balanced), because the API
  serves the place the reports come from, and is chosen on the corpus rows.

Selection, all on out-of-fold scores of the training part:

1. per medium, the expert setting with the best MCC at its own threshold (the usual rule:
   at most ``max_ham_blocked`` of the ham, pooled and per large source), on that medium's
   messages, or for a pooled medium on the corpus's;
2. each expert's logit is shifted so its own threshold maps onto 0.5;
3. the gate setting (regularisation x sharpness) whose mixture has the best out-of-fold
   MCC on the corpus at its threshold, the usual rule applied to the mixture's scores of
   the corpus (pooled over every corpus medium, so misrouted corpus ham count, and per
   large source), so the ham-blocked limit holds for the published model, misroutes
   included; the reports are not in it: they are the place's mistakes, not a sample of its
   ham, so a rate measured on them says nothing about the place's. That threshold is the
   published one (about 0.5: above it where a misrouted ham needs it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from chalicelib.experts import MediumExperts, sharpen, sigmoid
from joblib import Parallel, delayed
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.class_weight import compute_sample_weight

from trainer.evaluate import brief, classification_report, per_source_report, selection_key
from trainer.model import PARAM_GRID, make_classifier, make_vectorizer
from trainer.thresholds import strictest_threshold

__all__ = [
    "EXPERT_GRID",
    "GATE_GRID",
    "GATE_SHARPNESS",
    "REPORT_WEIGHT",
    "ExpertsCV",
    "ExpertsSelection",
    "anchored_fit",
    "cross_validate_experts",
    "expert_rows",
    "fit_experts",
    "logit",
    "report_weights",
    "select_experts",
]

#: Gate settings CV picks from: its regularisation (fitted once per fold each) ...
GATE_GRID: tuple[dict[str, Any], ...] = ({"C": 10.0}, {"C": 100.0}, {"C": 1000.0})
#: ... times how sharply its probabilities are trusted (``chalicelib.experts.sharpen``).
GATE_SHARPNESS: tuple[float, ...] = (1.0, 2.0, 4.0, 16.0)
#: Expert settings CV picks from, per medium: the one-medium grid plus a weaker penalty.
EXPERT_GRID: tuple[dict[str, Any], ...] = (
    *PARAM_GRID,
    *({"C": 300.0, "class_weight": w} for w in (None, "balanced")),
)
#: How many corpus messages one accepted report weighs in the reports' expert.
REPORT_WEIGHT = 20.0


@dataclass(frozen=True)
class ExpertsCV:
    """Out-of-fold scores of every expert setting and every gate setting.

    ``logits[m][s, i]``: the logit of medium ``m``'s expert with setting ``grids[m][s]`` on
    row ``i``; ``gate[g, i, k]``: gate setting ``g``'s probability that row ``i`` is
    ``media[k]``. Only the rows of ``scored`` (the corpus's) have out-of-fold scores: a
    pooled medium's rows join every fold's training and are never scored (zeros).
    """

    media: tuple[str, ...]
    grids: dict[str, tuple[dict[str, Any], ...]]
    gate_grid: tuple[dict[str, Any], ...]
    logits: dict[str, np.ndarray]
    gate: np.ndarray
    scored: np.ndarray
    cpu_seconds: float
    pooled: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpertsSelection:
    """What CV chose, and the published mixture's out-of-fold scores.

    ``oof_scores`` are those of the rows it was chosen on; ``scored_oof`` has one per row of
    the data, ``nan`` where a row was never scored (every row of ``ExpertsCV.scored`` has one).
    """

    params: dict[str, dict[str, Any]]
    gate_params: dict[str, Any]
    thresholds: dict[str, float]
    threshold: float
    oof_scores: np.ndarray
    metrics: dict[str, Any]
    scored_oof: np.ndarray | None = None


def logit(p: float) -> float:
    """The expert's logit offset that maps its own threshold ``p`` onto 0.5."""
    return float(np.log(p) - np.log1p(-p))


def report_weights(labels: np.ndarray, weight: float = REPORT_WEIGHT) -> np.ndarray:
    """Each report's sample weight: every label's reports together weigh ``weight`` x half.

    ``weight`` per report on average, spread so that spam and ham weigh the same in all
    (the module docstring says why). A label nobody reported weighs nothing, and the
    other keeps its half: reports of one label are not inflated into a whole.

    >>> report_weights(np.array([0, 0, 0, 1]), 20.0).tolist()
    [13.333333333333334, 13.333333333333334, 13.333333333333334, 40.0]
    >>> report_weights(np.array([0, 0]), 20.0).tolist()
    [10.0, 10.0]
    """
    labels = np.asarray(labels)
    half = weight * labels.size / 2.0
    weights = np.zeros(labels.size, dtype=float)
    for label in np.unique(labels):
        mask = labels == label
        weights[mask] = half / np.sum(mask)
    return weights


def expert_rows(
    name: str,
    media: np.ndarray,
    y: np.ndarray,
    pooled: Sequence[str] = (),
    weight: float = REPORT_WEIGHT,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows medium ``name``'s expert is fitted on, and their sample weights.

    A medium's own rows, unweighted; for a pooled medium every row, the corpus's weighing
    1 each and its own :func:`report_weights`.

    >>> media = np.array(["sms"] * 4 + ["feedback"] * 2)
    >>> rows, w = expert_rows("feedback", media, np.array([0, 1, 0, 0, 0, 1]), ["feedback"])
    >>> rows.tolist(), w.tolist()
    ([0, 1, 2, 3, 4, 5], [1.0, 1.0, 1.0, 1.0, 20.0, 20.0])
    >>> expert_rows("sms", media, np.zeros(6), ["feedback"])
    (array([0, 1, 2, 3]), None)
    """
    own = media == name
    if name not in pooled:
        return np.flatnonzero(own), None
    weights = np.ones(media.size, dtype=float)
    weights[own] = report_weights(np.asarray(y)[own], weight)
    return np.arange(media.size), weights


def _fit_expert(
    params: Mapping[str, Any],
    x: Any,
    y: np.ndarray,
    name: str,
    media: np.ndarray,
    pooled: Sequence[str],
    weight: float,
) -> Any:
    rows, weights = expert_rows(name, media, y, pooled, weight)
    if name not in pooled:
        return make_classifier(params).fit(x[rows], y[rows], sample_weight=weights)
    return anchored_fit(params, x, y, ~np.isin(media, pooled), weights)


def anchored_fit(
    params: Mapping[str, Any], x: Any, y: np.ndarray, corpus: np.ndarray, weights: np.ndarray
) -> Any:
    """The reports' expert: the corpus's own model, plus a correction learnt from every row.

    A logistic regression fitted on the corpus's rows (``params``) is the anchor; the expert
    is that model's logit plus a penalised linear correction, fitted on every row (the
    reports weighted, ``weights``) with the anchor's logit as a fixed offset
    (:func:`_offset_logistic`). What the reports do not contradict keeps the corpus's
    weight, and what tells them apart is learnt on top: ham reports of a new place lower
    what they have in common with each other, not what every spam shares. Anchor and
    correction add up to one logistic regression over the text's features, which serves,
    explains and pickles like any other.
    """
    anchor = make_classifier(params).fit(x[corpus], y[corpus])
    weights = weights * compute_sample_weight(params.get("class_weight"), y)
    coef, intercept = _offset_logistic(
        x, y, anchor.decision_function(x), weights, float(params.get("C", 1.0))
    )
    anchor.coef_ = anchor.coef_ + coef
    anchor.intercept_ = anchor.intercept_ + intercept
    return anchor


def _offset_logistic(
    x: Any, y: np.ndarray, offset: np.ndarray, weights: np.ndarray, c: float
) -> tuple[np.ndarray, float]:
    """``(coef, intercept)`` minimising the weighted logistic loss of ``x @ coef + intercept
    + offset`` plus ``|coef|^2 / (2 c)``: scikit-learn's L2 logistic regression, with the
    per-row offset its estimators do not take.

    >>> x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    >>> y = np.array([1, 0, 1, 0])
    >>> coef, b = _offset_logistic(x, y, np.zeros(4), np.ones(4), 1.0)
    >>> bool(coef[0, 0] > 0 > coef[0, 1])
    True
    >>> shifted, _ = _offset_logistic(x, y, np.array([5.0, -5.0, 5.0, -5.0]), np.ones(4), 1.0)
    >>> bool(abs(shifted).max() < abs(coef).max())  # an offset that explains y: less to learn
    True
    """
    sign = np.where(y == 1, 1.0, -1.0)
    n_features = x.shape[1]

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        coef, intercept = params[:n_features], params[n_features]
        margin = sign * (x @ coef + intercept + offset)
        losses = np.logaddexp(0.0, -margin)
        slope = -weights * sign * np.exp(-np.logaddexp(0.0, margin))  # d loss / d logit
        grad = np.append(x.T @ slope + coef / c, slope.sum())
        return float(weights @ losses + coef @ coef / (2.0 * c)), grad

    start = np.zeros(n_features + 1)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    return result.x[:n_features].reshape(1, -1), float(result.x[n_features])


def _gate(params: Mapping[str, Any], media: int = 2) -> Any:
    """The gate: the trainer's logistic regression (liblinear) between two media; between
    more (a corpus of SMS and email, with reports or captures), a multinomial one (lbfgs),
    since scikit-learn's liblinear solver refuses more than two classes. Both pickle as a
    ``LogisticRegression`` and answer ``predict_proba`` alike."""
    settings = {"C": params["C"], "class_weight": params.get("class_weight")}
    if media <= 2:
        return make_classifier(settings)
    return LogisticRegression(**settings, solver="lbfgs", max_iter=1000)


def _gate_settings(
    gate_grid: Sequence[Mapping[str, Any]], pooled: Sequence[str]
) -> tuple[dict[str, Any], ...]:
    """The gate settings CV weighs: with reports, every one with balanced media.

    The gate learns how likely each medium is from how many rows it has. A few hundred
    reports against thousands of corpus messages then make it route a report-like message
    to a corpus expert whenever it is unsure, while the API serves exactly the place the
    reports come from. A balanced gate takes every medium as equally likely beforehand.

    >>> _gate_settings(({"C": 10.0},), ["feedback"])
    ({'C': 10.0, 'class_weight': 'balanced'},)
    >>> _gate_settings(({"C": 10.0},), [])
    ({'C': 10.0},)
    """
    if not pooled:
        return tuple(dict(p) for p in gate_grid)
    return tuple({**p, "class_weight": "balanced"} for p in gate_grid)


def _fold(
    texts: np.ndarray,
    y: np.ndarray,
    media: np.ndarray,
    names: tuple[str, ...],
    train: np.ndarray,
    test: np.ndarray,
    grids: Mapping[str, Sequence[Mapping[str, Any]]],
    gate_grid: Sequence[Mapping[str, Any]],
    pooled: Sequence[str],
    weight: float,
) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    started = time.process_time()
    vectorizer = make_vectorizer()  # fitted on this fold's training rows of every medium
    x_train = vectorizer.fit_transform(texts[train].tolist())
    x_test = vectorizer.transform(texts[test].tolist())
    y_train, media_train = y[train], media[train]
    logits = {}
    for name in names:
        logits[name] = np.vstack(
            [
                _fit_expert(
                    p, x_train, y_train, name, media_train, pooled, weight
                ).decision_function(x_test)
                for p in grids[name]
            ]
        )
    gates = []
    for params in gate_grid:
        gate = _gate(params, len(names)).fit(x_train, media_train)
        columns = [list(gate.classes_).index(n) for n in names]
        gates.append(gate.predict_proba(x_test)[:, columns])
    return logits, np.stack(gates), time.process_time() - started


def cross_validate_experts(
    texts: Sequence[str],
    y: Sequence[int],
    media: Sequence[str],
    grid: Sequence[Mapping[str, Any]],
    gate_grid: Sequence[Mapping[str, Any]] = GATE_GRID,
    folds: int = 5,
    seed: int = 42,
    n_jobs: int = 2,
    pooled: Sequence[str] = (),
    report_weight: float = REPORT_WEIGHT,
    always_train: Sequence[bool] | None = None,
) -> ExpertsCV:
    """Out-of-fold expert logits and gate probabilities of the corpus's rows.

    The corpus's rows are folded, stratified by label x medium; the rows of the ``pooled``
    media (reports) join every fold's training, weighing ``report_weight`` each on average
    in their expert (:func:`expert_rows`), and are never scored. ``always_train`` names
    those rows explicitly when a pooled medium has rows that may be scored (the random
    stratum of captures, a fair sample of the place): the rows it marks join every fold's
    training and are never scored, and every other row is folded.
    """
    array = np.asarray(list(texts), dtype=object)
    labels = np.asarray(y, dtype=int)
    kinds = np.asarray(list(media), dtype=object)
    names = tuple(sorted(set(kinds.tolist())))
    pooled = tuple(n for n in pooled if n in names)
    if always_train is None:
        scored = ~np.isin(kinds, pooled)
    else:
        scored = ~np.asarray(always_train, dtype=bool)
    corpus_rows, report_rows = np.flatnonzero(scored), np.flatnonzero(~scored)
    strata = np.array([f"{a}|{b}" for a, b in zip(labels, kinds, strict=True)])[scored]
    folder = StratifiedKFold(folds, shuffle=True, random_state=seed)
    splits = [
        (np.sort(np.concatenate([corpus_rows[train], report_rows])), corpus_rows[test])
        for train, test in folder.split(corpus_rows, strata)
    ]
    grids = {n: tuple(dict(p) for p in grid) for n in names}
    gate_grid = _gate_settings(gate_grid, pooled)
    per_fold = Parallel(n_jobs=n_jobs)(
        delayed(_fold)(
            array, labels, kinds, names, train, test, grids, gate_grid, pooled, report_weight
        )
        for train, test in splits
    )
    logits = {n: np.zeros((len(grids[n]), labels.size)) for n in names}
    gate = np.zeros((len(gate_grid), labels.size, len(names)))
    for (_, test), (fold_logits, fold_gate, _) in zip(splits, per_fold, strict=True):
        for name in names:
            logits[name][:, test] = fold_logits[name]
        gate[:, test, :] = fold_gate
    return ExpertsCV(
        media=names,
        grids=grids,
        gate_grid=tuple(dict(p) for p in gate_grid),
        logits=logits,
        gate=gate,
        scored=scored,
        cpu_seconds=float(sum(seconds for *_, seconds in per_fold)),
        pooled=pooled,
    )


def select_experts(
    cv: ExpertsCV,
    y: np.ndarray,
    sources: np.ndarray,
    media: np.ndarray,
    max_ham_blocked: float,
    sharpness: Sequence[float] = GATE_SHARPNESS,
    chosen_on: np.ndarray | None = None,
    pooled_chosen_on: np.ndarray | None = None,
) -> ExpertsSelection:
    """Pick each medium's expert setting, the gate setting and the thresholds (see module).

    Everything is read on the out-of-fold scores of the rows of ``chosen_on`` (default: every
    scored row, ``cv.scored``: the corpus's), but the pooled media's experts on those of
    ``pooled_chosen_on`` (default: the same rows): the place's random captures can then set
    the threshold of the expert that serves the place while the corpus alone sets the rest.
    The published mixture's out-of-fold scores of every scored row are kept too
    (``ExpertsSelection.scored_oof``).
    """
    scored = cv.scored if chosen_on is None else cv.scored & np.asarray(chosen_on, dtype=bool)
    pooled_rows = (
        scored if pooled_chosen_on is None else cv.scored & np.asarray(pooled_chosen_on, bool)
    )
    y_c, sources_c, media_c = y[scored], sources[scored], media[scored]
    params_by_medium, thresholds, tables, chosen = {}, {}, {}, {}
    for name in cv.media:
        rows = pooled_rows if name in cv.pooled else scored & (media == name)
        table, best, best_key = [], 0, (-2.0, -1.0)
        for index, setting in enumerate(cv.grids[name]):
            scores = sigmoid(cv.logits[name][index][rows])
            cut, per_source = strictest_threshold(scores, y[rows], sources[rows], max_ham_blocked)
            report = classification_report(y[rows], scores, cut)
            table.append({"params": dict(setting), **brief(report)})
            if len(per_source) > 1:
                table[-1]["source_thresholds"] = per_source
            key = selection_key(report)
            if key > best_key:
                best, best_key = index, key
        chosen[name] = best
        params_by_medium[name] = dict(table[best]["params"])
        thresholds[name] = table[best]["threshold"]
        tables[name] = {"selected": table[best], "candidates": table}

    truth = np.array([cv.media.index(m) for m in media_c])
    offsets = np.array([logit(thresholds[n]) for n in cv.media])
    experts = sigmoid(
        np.column_stack([cv.logits[n][chosen[n]][scored] for n in cv.media]) - offsets
    )
    gate_rows: list[dict[str, Any]] = []
    keys, oofs, picks = [], [], []
    for index, setting in enumerate(cv.gate_grid):
        proba = cv.gate[index][scored]
        picked = np.clip(proba[np.arange(truth.size), truth], 1e-12, 1.0)
        quality = {
            "gate_log_loss": float(-np.mean(np.log(picked))),
            "gate_accuracy": float(np.mean(np.argmax(proba, axis=1) == truth)),
        }
        for value in sharpness:
            oof = np.sum(sharpen(proba, value) * experts, axis=1)
            cut, _ = strictest_threshold(oof, y_c, sources_c, max_ham_blocked)
            report = classification_report(y_c, oof, cut)
            gate_rows.append(
                {"params": {**setting, "sharpness": value}, **quality, **brief(report)}
            )
            keys.append(selection_key(report))
            oofs.append(oof)
            picks.append((index, value))
    gate_best = max(range(len(keys)), key=lambda i: (keys[i], -i))  # ties: the earlier
    gate_oof = oofs[gate_best]
    gate_index, gate_sharpness = picks[gate_best]
    every = sigmoid(
        np.column_stack([cv.logits[n][chosen[n]][cv.scored] for n in cv.media]) - offsets
    )
    scored_oof = np.full(y.size, np.nan)
    scored_oof[cv.scored] = np.sum(
        sharpen(cv.gate[gate_index][cv.scored], gate_sharpness) * every, axis=1
    )

    gate_params = dict(gate_rows[gate_best]["params"])
    threshold, per_source_cut = strictest_threshold(gate_oof, y_c, sources_c, max_ham_blocked)
    mixture = classification_report(y_c, gate_oof, threshold)
    metrics = {
        "selected": {
            "params": {"experts": params_by_medium, "gate": gate_params},
            **brief(mixture),
            "source_thresholds": per_source_cut,
            "per_source": {
                k: brief(r)
                for k, r in per_source_report(y_c, gate_oof, sources_c, threshold).items()
            },
            "medium_thresholds": dict(thresholds),
            "gate_accuracy": gate_rows[gate_best]["gate_accuracy"],
        },
        "experts": tables,
        "gate": {"selected": gate_rows[gate_best], "candidates": gate_rows},
    }
    return ExpertsSelection(
        params=params_by_medium,
        gate_params=gate_params,
        thresholds=thresholds,
        threshold=threshold,
        oof_scores=gate_oof,
        metrics=metrics,
        scored_oof=scored_oof,
    )


def fit_experts(
    features: Any,
    y: np.ndarray,
    media: np.ndarray,
    selection: ExpertsSelection,
    pooled: Sequence[str] = (),
    report_weight: float = REPORT_WEIGHT,
) -> MediumExperts:
    """Fit the gate and the experts on ``features`` (of the whole training part)."""
    names = tuple(sorted(selection.params))
    experts = [
        _fit_expert(selection.params[n], features, y, n, media, pooled, report_weight)
        for n in names
    ]
    gate = _gate(selection.gate_params, len(names)).fit(features, media)
    offsets = [logit(selection.thresholds[n]) for n in names]
    return MediumExperts(names, gate, experts, offsets, selection.gate_params["sharpness"])

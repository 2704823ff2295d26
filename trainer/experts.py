"""Training the mixture of per-medium experts (:class:`chalicelib.experts.MediumExperts`).

Used when the training data spans several media. The CV evaluates what is published:
in each fold one vectorizer (:func:`trainer.model.make_vectorizer`) is fitted on that
fold's training rows of every medium; on its features, each medium's expert is fitted
on that medium's rows only (once per setting of the grid) and the gate on all rows
(once per gate setting); every held-out row gets every expert's logit and the gate's
medium probabilities, so any mixture of the settings can be scored out of fold.

A *pooled* medium (``trainer.feedback``'s reports) is one with too few messages for an
expert of its own: its expert learns from every row, its own rows weighted so that
together they weigh a share of what all the others weigh (:func:`expert_rows`; CV picks
the share from ``REPORT_WEIGHTS``, per run, on the medium's own out-of-fold MCC). A few
hundred reports then count as much as thousands of corpus messages, and every report
weighs less as more arrive, so a growing source moves its expert smoothly; the corpus's
experts never see the reports. A 0.2 % quantile cannot be read off a few hundred ham of
its own, so CV weighs two thresholds for it (:func:`_candidate_cuts`): the rule on all the
rows it learned from (pooled and per large source), and the quantile of a normal fitted
to its own ham's logits (``trainer.thresholds.tail_threshold``), which suits reports
from a medium whose ham scores unlike the corpus's.

Selection, all on out-of-fold scores of the training part:

1. per medium, the expert setting (and for a pooled medium, the threshold rule) with
   the best MCC on that medium's messages at its own threshold (the usual rule: at most
   ``max_ham_blocked`` of the medium's ham, pooled and per large source);
2. each expert's logit is shifted so its own threshold maps onto 0.5;
3. the gate setting (regularisation x sharpness) whose mixture has the best out-of-fold
   MCC at its threshold, the usual rule applied to the mixture's scores (pooled over the
   corpus media and per large source, :func:`mixture_threshold`), so the ham-blocked
   limit holds for the published model, misroutes included;
   that threshold is the published one (about 0.5: above it where a misrouted ham needs it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from chalicelib.experts import MediumExperts, sharpen, sigmoid
from joblib import Parallel, delayed
from sklearn.model_selection import StratifiedKFold

from trainer.evaluate import brief, classification_report, per_source_report, selection_key
from trainer.model import PARAM_GRID, make_classifier, make_vectorizer
from trainer.thresholds import strictest_threshold, tail_threshold

__all__ = [
    "EXPERT_GRID",
    "GATE_GRID",
    "GATE_SHARPNESS",
    "REPORT_WEIGHTS",
    "ExpertsCV",
    "ExpertsSelection",
    "cross_validate_experts",
    "expert_rows",
    "fit_experts",
    "logit",
    "mixture_threshold",
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
#: A pooled medium's rows together weigh this share of the other rows (CV picks one).
REPORT_WEIGHTS: tuple[float, ...] = (0.25, 1.0, 4.0)


@dataclass(frozen=True)
class ExpertsCV:
    """Out-of-fold scores of every expert setting and every gate setting.

    ``logits[m][s, i]``: the logit of medium ``m``'s expert with setting ``grids[m][s]`` on
    row ``i``; ``gate[g, i, k]``: gate setting ``g``'s probability that row ``i`` is
    ``media[k]``. A pooled medium's settings also say how much its rows weigh
    (``report_weight``).
    """

    media: tuple[str, ...]
    grids: dict[str, tuple[dict[str, Any], ...]]
    gate_grid: tuple[dict[str, Any], ...]
    logits: dict[str, np.ndarray]
    gate: np.ndarray
    cpu_seconds: float
    pooled: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpertsSelection:
    """What CV chose, and the published mixture's out-of-fold scores."""

    params: dict[str, dict[str, Any]]
    gate_params: dict[str, Any]
    thresholds: dict[str, float]
    threshold: float
    oof_scores: np.ndarray
    metrics: dict[str, Any]


def logit(p: float) -> float:
    """The expert's logit offset that maps its own threshold ``p`` onto 0.5."""
    return float(np.log(p) - np.log1p(-p))


def expert_rows(
    name: str, media: np.ndarray, pooled: Sequence[str] = (), share: float = 1.0
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows medium ``name``'s expert is fitted on, and their sample weights.

    A medium's own rows, unweighted; for a pooled medium every row, its own rows weighted
    so that together they weigh ``share`` times the rest (never less than 1 each).

    >>> media = np.array(["sms"] * 6 + ["feedback"] * 2)
    >>> rows, w = expert_rows("feedback", media, ["feedback"])
    >>> rows.tolist(), w.tolist()
    ([0, 1, 2, 3, 4, 5, 6, 7], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0, 3.0])
    >>> expert_rows("feedback", media, ["feedback"], share=0.25)[1].tolist()[-2:]
    [1.0, 1.0]
    """
    own = media == name
    if name not in pooled:
        return np.flatnonzero(own), None
    n_own, n_other = int(np.sum(own)), int(np.sum(~own))
    weights = np.where(own, max(1.0, share * n_other / max(n_own, 1)), 1.0)
    return np.arange(media.size), weights


def _expert_grids(
    names: Sequence[str],
    grid: Sequence[Mapping[str, Any]],
    pooled: Sequence[str],
    report_weights: Sequence[float],
) -> dict[str, tuple[dict[str, Any], ...]]:
    """Each medium's settings: the grid, times the report weights for a pooled medium.

    A setting that already names its weight (a repeat narrowed to a run's choice) keeps
    it; other media drop it.
    """
    grids = {}
    for name in names:
        settings: list[dict[str, Any]] = []
        for p in grid:
            if name not in pooled:
                settings.append({k: v for k, v in p.items() if k != "report_weight"})
            elif "report_weight" in p:
                settings.append(dict(p))
            else:
                settings += [{**p, "report_weight": w} for w in report_weights]
        grids[name] = tuple({repr(p): p for p in settings}.values())
    return grids


def _fit_expert(
    params: Mapping[str, Any], x: Any, y: np.ndarray, name: str, media: np.ndarray, pooled: Any
) -> Any:
    """One expert fitted as ``params`` say (``report_weight`` is the pooled rows' share)."""
    settings = dict(params)
    share = settings.pop("report_weight", 1.0)
    rows, weights = expert_rows(name, media, pooled, share)
    return make_classifier(settings).fit(x[rows], y[rows], sample_weight=weights)


def _gate(params: Mapping[str, Any]) -> Any:
    return make_classifier({"C": params["C"], "class_weight": params.get("class_weight")})


def _gate_settings(
    gate_grid: Sequence[Mapping[str, Any]], pooled: Sequence[str]
) -> tuple[dict[str, Any], ...]:
    """The gate settings CV weighs: with reports, each also with balanced media.

    The gate learns how likely each medium is from how many rows it has. A few hundred
    reports against thousands of corpus messages then make it route a report-like message
    to a corpus expert whenever it is unsure, while the API serves exactly the place the
    reports come from. A balanced gate takes every medium as equally likely beforehand.

    >>> _gate_settings(({"C": 10.0},), ["feedback"])
    ({'C': 10.0}, {'C': 10.0, 'class_weight': 'balanced'})
    >>> _gate_settings(({"C": 10.0},), [])
    ({'C': 10.0},)
    """
    settings = [dict(p) for p in gate_grid]
    if pooled:  # a setting that names its class weight (a repeat's narrowed grid) keeps it
        settings += [{**p, "class_weight": "balanced"} for p in settings if "class_weight" not in p]
    return tuple(settings)


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
                _fit_expert(p, x_train, y_train, name, media_train, pooled).decision_function(
                    x_test
                )
                for p in grids[name]
            ]
        )
    gates = []
    for params in gate_grid:
        gate = _gate(params).fit(x_train, media_train)
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
    report_weights: Sequence[float] = REPORT_WEIGHTS,
) -> ExpertsCV:
    """Out-of-fold expert logits and gate probabilities; folds stratified by label x medium.

    ``pooled`` names the media whose expert learns from every row (:func:`expert_rows`),
    each setting of ``grid`` tried with each of ``report_weights``.
    """
    array = np.asarray(list(texts), dtype=object)
    labels = np.asarray(y, dtype=int)
    kinds = np.asarray(list(media), dtype=object)
    names = tuple(sorted(set(kinds.tolist())))
    strata = np.array([f"{a}|{b}" for a, b in zip(labels, kinds, strict=True)])
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(array, strata))
    pooled = tuple(n for n in pooled if n in names)
    grids = _expert_grids(names, grid, pooled, report_weights)
    gate_grid = _gate_settings(gate_grid, pooled)
    per_fold = Parallel(n_jobs=n_jobs)(
        delayed(_fold)(array, labels, kinds, names, train, test, grids, gate_grid, pooled)
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
        cpu_seconds=float(sum(seconds for *_, seconds in per_fold)),
        pooled=pooled,
    )


def mixture_threshold(
    scores: np.ndarray,
    y: np.ndarray,
    sources: np.ndarray,
    corpus: np.ndarray,
    max_ham_blocked: float,
) -> tuple[float, dict[str, float]]:
    """The published mixture's threshold: the rule on the corpus rows, and large sources.

    Pooled over the rows of the corpus media (so misrouted corpus ham count) and per
    source with enough ham, pooled media included. A pooled medium's few ham are not in
    the pooled limit again: its expert's own threshold already spent their share of the
    limit, and counting them twice would leave them none, which is the climbing
    highest-ham threshold of ``trainer.thresholds`` by another road.
    """
    threshold, per_source = strictest_threshold(
        scores[corpus], y[corpus], sources[corpus], max_ham_blocked
    )
    if not np.all(corpus):
        _, everyone = strictest_threshold(scores, y, sources, max_ham_blocked)
        per_source = {**everyone, **per_source}
        threshold = max([threshold, *per_source.values()])
    return threshold, per_source


def _candidate_cuts(
    scores: np.ndarray,
    y: np.ndarray,
    sources: np.ndarray,
    rows: np.ndarray,
    pooled: bool,
    max_ham_blocked: float,
) -> list[tuple[str, float, dict[str, float]]]:
    """The thresholds CV weighs for one expert setting: ``(rule, cut, per-source cuts)``.

    A medium of its own: the rule on its rows. A pooled expert learned from every row, so
    the rule on all of them (``"corpus"``), and, when its own ham are enough to fit one,
    the quantile of their fitted tail (``"own tail"``, :func:`trainer.thresholds
    .tail_threshold`): reports from a medium the corpus never saw score lower than the
    corpus's ham, and the corpus's threshold would leave most of their spam through.
    """
    basis = np.ones_like(rows) if pooled else rows
    cut, per_source = strictest_threshold(scores[basis], y[basis], sources[basis], max_ham_blocked)
    cuts = [("corpus" if pooled else "own", cut, per_source)]
    tail = tail_threshold(scores[rows & (y == 0)], max_ham_blocked) if pooled else None
    if tail is not None:
        cuts.append(("own tail", tail, {}))
    return cuts


def _per_place_key(
    y: np.ndarray, scores: np.ndarray, cut: float, places: Sequence[np.ndarray]
) -> tuple[float, float]:
    """:func:`selection_key` averaged over places (the corpus, each pooled medium).

    With reports, the gate is chosen for the place the API serves as much as for the
    corpus: pooled over all rows, a few hundred reports would hardly count.
    """
    keys = [selection_key(classification_report(y[p], scores[p], cut)) for p in places]
    return tuple(round(float(np.mean(k)), 6) for k in zip(*keys, strict=True))  # type: ignore[return-value]


#: With reports, a gate setting may cost the corpus at most this much out-of-fold MCC
#: against the corpus's best gate: the API serves the reports' place, but the corpus's
#: figures are kept (issue #14: within 0.01 of the model without reports; half of that
#: here, because a holdout differs from the out-of-fold scores).
CORPUS_MCC_TOLERANCE = 0.005


def _best_gate(rows: Sequence[Mapping[str, Any]], keys: Sequence[tuple[float, float]]) -> int:
    """Index of the gate setting CV picks: the best key, among those that keep the corpus.

    Without reports every setting is eligible (no ``corpus_mcc``). Ties keep the earlier.
    """
    corpus = [r.get("corpus_mcc") for r in rows]
    eligible = range(len(rows))
    if all(c is not None for c in corpus):
        best_corpus = max(corpus)
        eligible = [i for i in eligible if corpus[i] >= best_corpus - CORPUS_MCC_TOLERANCE]
    best = eligible[0]
    for index in eligible:
        if keys[index] > keys[best]:
            best = index
    return best


def select_experts(
    cv: ExpertsCV,
    y: np.ndarray,
    sources: np.ndarray,
    media: np.ndarray,
    max_ham_blocked: float,
    sharpness: Sequence[float] = GATE_SHARPNESS,
) -> ExpertsSelection:
    """Pick each medium's expert setting, the gate setting and the thresholds (see module)."""
    params_by_medium, thresholds, tables, chosen = {}, {}, {}, {}
    for name in cv.media:
        rows = media == name
        table, best, best_key = [], 0, (-2.0, -1.0)
        for index, setting in enumerate(cv.grids[name]):
            scores = sigmoid(cv.logits[name][index])
            for rule, cut, per_source in _candidate_cuts(
                scores, y, sources, rows, name in cv.pooled, max_ham_blocked
            ):
                report = classification_report(y[rows], scores[rows], cut)
                table.append({"params": dict(setting), "threshold_rule": rule, **brief(report)})
                if len(per_source) > 1:
                    table[-1]["source_thresholds"] = per_source
                key = selection_key(report)
                if key > best_key:
                    best, best_key, chosen[name] = len(table) - 1, key, index
        params_by_medium[name] = dict(table[best]["params"])
        thresholds[name] = table[best]["threshold"]
        tables[name] = {"selected": table[best], "candidates": table}

    truth = np.array([cv.media.index(m) for m in media])
    corpus = ~np.isin(media, cv.pooled)
    offsets = np.array([logit(thresholds[n]) for n in cv.media])
    experts = sigmoid(np.column_stack([cv.logits[n][chosen[n]] for n in cv.media]) - offsets)
    gate_rows: list[dict[str, Any]] = []
    keys, oofs = [], []
    places = [corpus, *(media == n for n in cv.pooled)]  # the corpus, then each pooled medium
    for index, setting in enumerate(cv.gate_grid):
        proba = cv.gate[index]
        picked = np.clip(proba[np.arange(truth.size), truth], 1e-12, 1.0)
        quality = {
            "gate_log_loss": float(-np.mean(np.log(picked))),
            "gate_accuracy": float(np.mean(np.argmax(proba, axis=1) == truth)),
        }
        for value in sharpness:
            oof = np.sum(sharpen(proba, value) * experts, axis=1)
            cut, _ = mixture_threshold(oof, y, sources, corpus, max_ham_blocked)
            report = classification_report(y, oof, cut)
            params = {**setting, "sharpness": value}
            gate_rows.append({"params": params, **quality, **brief(report)})
            keys.append(selection_key(report))
            if cv.pooled:
                on_corpus = classification_report(y[corpus], oof[corpus], cut)
                gate_rows[-1]["corpus_mcc"] = on_corpus["mcc"]
                keys[-1] = _per_place_key(y, oof, cut, places)
                gate_rows[-1]["per_place_key"] = list(keys[-1])
            oofs.append(oof)
    gate_best = _best_gate(gate_rows, keys)
    gate_oof = oofs[gate_best]

    gate_params = dict(gate_rows[gate_best]["params"])
    threshold, per_source_cut = mixture_threshold(gate_oof, y, sources, corpus, max_ham_blocked)
    mixture = classification_report(y, gate_oof, threshold)
    metrics = {
        "selected": {
            "params": {"experts": params_by_medium, "gate": gate_params},
            **brief(mixture),
            "source_thresholds": per_source_cut,
            "per_source": {
                k: brief(r) for k, r in per_source_report(y, gate_oof, sources, threshold).items()
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
    )


def fit_experts(
    features: Any,
    y: np.ndarray,
    media: np.ndarray,
    selection: ExpertsSelection,
    pooled: Sequence[str] = (),
) -> MediumExperts:
    """Fit the gate and the experts on ``features`` (of the whole training part)."""
    names = tuple(sorted(selection.params))
    experts = []
    for name in names:
        experts.append(_fit_expert(selection.params[name], features, y, name, media, pooled))
    gate = _gate(selection.gate_params).fit(features, media)
    offsets = [logit(selection.thresholds[n]) for n in names]
    return MediumExperts(names, gate, experts, offsets, selection.gate_params["sharpness"])

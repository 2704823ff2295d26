"""One training run: protocol, model selection, threshold, holdout evaluation, baseline.

Protocol (recorded in ``metrics.json`` under ``protocol``):

1. deduplicate, then a stratified 80/20 holdout with a fixed seed (``trainer.protocol``);
2. on the training part only, stratified 5-fold CV gives out-of-fold spam probabilities
   for every setting in the grid; for each, the threshold is the lowest that flags at
   most ``max_ham_blocked`` of the out-of-fold ham, of all sources pooled *and* of each
   source whose ham can show that rate (``trainer.thresholds.min_source_ham``; the
   strictest of these wins, so mixing in a corpus where ham looks different cannot push
   another corpus's ham over the limit);
   the setting with the best out-of-fold MCC at its threshold wins (ties: the earlier,
   more regularised one);
3. the vectorizer and classifier are refitted on the whole training part with that
   setting, keep that threshold, and are scored once on the holdout. The published
   artifacts are exactly the scored ones;
4. the original tutorial's pipeline is fitted on the same training part and scored on
   the same holdout, for comparison.

With several media (``Message.medium``: ``sms``, ``email``), each with enough spam and ham,
steps 2 and 3 fit a mixture of per-medium experts instead (:mod:`trainer.experts`): one
shared vectorizer, one expert per medium with its own CV-chosen setting and out-of-fold
threshold, and a gate that predicts the medium; the CV scores that mixture, so the
published threshold meets the same limit for it. With one medium nothing changes.

Accepted feedback reports (``feedback=``) join as the source and medium ``feedback``
(:mod:`trainer.feedback`), and labelled captures (``captures=``) as the sources
``capture-random`` and ``capture-uncertain`` with the medium ``CAPTURE_MEDIUM``. Every
one is learnt: a person reviewed it, and reports come a few dozen at a time, so holding
a fifth of them out (drawn anew as they grow) would leave a round's corrections unlearnt
and hold out in one run what the last one learnt. With enough of them they get an expert
of their own that learns from every row, each report weighing ``REPORT_WEIGHT`` corpus
messages with its labels balanced, chosen and thresholded on the corpus's out-of-fold
scores (:mod:`trainer.experts`). The corpus's holdout is what measures the model; the
place's figures come from its own messages
(``bench.adaptation``).

Captures are learnt the same way, every one and in the reports' expert (``CAPTURE_MEDIUM``
is the reports' medium), with one difference that comes from how they were drawn: the
random stratum is a fair sample of the place, so its rows are folded like the corpus's and
scored out of fold (``cv.place`` in the metrics: the place's figures out of fold), while
reports and the uncertain stratum, which sit where the model errs or hesitates by
construction, join every fold's training and are never scored, so no threshold is read off
them. Whether the random stratum's scores also choose the settings and thresholds
(``RANDOM_CAPTURES_CHOOSE``) was decided once by CV (trainer/README.md, "Learning from
captures").
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sklearn
from chalicelib.capture_format import CaptureRecord
from chalicelib.experts import MediumExperts
from chalicelib.feedback_format import Report
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from trainer.data import Message, check_dataset
from trainer.errors import DataError
from trainer.evaluate import brief, classification_report, per_source_report, selection_key
from trainer.experts import (
    EXPERT_GRID,
    GATE_GRID,
    GATE_SHARPNESS,
    REPORT_WEIGHT,
    cross_validate_experts,
    fit_experts,
    select_experts,
)
from trainer.feedback import (
    CAPTURE_RANDOM_SOURCE,
    CAPTURE_SOURCES,
    CAPTURE_UNCERTAIN_SOURCE,
    FEEDBACK_MEDIUM,
    FEEDBACK_SOURCE,
    PEOPLE_SOURCES,
    FeedbackMerge,
    labelled_id,
    merge_labelled,
)
from trainer.model import LABELS, PARAM_GRID, cross_validate_grid, fit_model, make_vectorizer
from trainer.protocol import HOLDOUT_FRACTION, SEED, deduplicate, holdout_split
from trainer.thresholds import min_source_ham, strictest_threshold

__all__ = [
    "CAPTURE_MEDIUM",
    "OWN_CAPTURE_MEDIUM",
    "RANDOM_CAPTURES_CHOOSE",
    "HoldoutScores",
    "TrainOptions",
    "TrainingResult",
    "summarize",
    "train",
]

#: The medium labelled captures are learnt under: the reports' (one pooled expert for every
#: person's label), or ``OWN_CAPTURE_MEDIUM`` (an expert of their own). Chosen by CV once:
#: trainer/README.md, "Learning from captures".
CAPTURE_MEDIUM = FEEDBACK_MEDIUM
OWN_CAPTURE_MEDIUM = "capture"
#: What the random stratum's out-of-fold scores choose together with the corpus's: nothing
#: (``"none"``: they are only reported, the corpus alone chooses, as for reports), the
#: setting and threshold of the expert that learns the captures (``"expert"``: the gate and
#: the published threshold stay the corpus's), or everything (``"all"``). Chosen by CV
#: once, with ``CAPTURE_MEDIUM``.
RANDOM_CAPTURES_CHOOSE = "none"
_CHOOSE_WORDS = {
    "none": "are reported only: the corpus's choose",
    "expert": (
        "choose the setting and threshold of the captures' expert with the corpus's; the "
        "gate and the published threshold are the corpus's"
    ),
    "all": "choose every setting and threshold with the corpus's",
}
_CHOICES = tuple(_CHOOSE_WORDS)

_threshold = strictest_threshold  # the name this module's tests know it by
BASELINE_NAME = (
    "tutorial: TfidfVectorizer(min_df=1, stop_words='english', lowercase=True) + "
    "LogisticRegression(), label 1 = ham, predict()"
)


@dataclass(frozen=True)
class TrainOptions:
    """The knobs of one run; the defaults are the documented protocol."""

    max_ham_blocked: float = 0.002
    holdout_fraction: float = HOLDOUT_FRACTION
    seed: int = SEED
    folds: int = 5
    grid: Sequence[Mapping[str, Any]] = PARAM_GRID
    n_jobs: int = 2
    baseline: bool = True
    expert_grid: Sequence[Mapping[str, Any]] = EXPERT_GRID
    gate_grid: Sequence[Mapping[str, Any]] = GATE_GRID
    gate_sharpness: Sequence[float] = GATE_SHARPNESS
    pooled_media: Sequence[str] = (FEEDBACK_MEDIUM, OWN_CAPTURE_MEDIUM)
    report_weight: float = REPORT_WEIGHT
    capture_medium: str = CAPTURE_MEDIUM
    random_captures_choose: str = RANDOM_CAPTURES_CHOOSE

    def __post_init__(self) -> None:
        if self.random_captures_choose not in _CHOICES:
            raise ValueError(
                f"random_captures_choose must be one of {_CHOICES}, "
                f"got {self.random_captures_choose!r}"
            )


@dataclass(frozen=True)
class HoldoutScores:
    """The holdout's labels, sources and spam probabilities (for plots and tests)."""

    y: np.ndarray
    sources: np.ndarray
    scores: np.ndarray
    baseline_scores: np.ndarray | None


@dataclass(frozen=True)
class TrainingResult:
    """A fitted model, its threshold and everything measured about it."""

    vectorizer: TfidfVectorizer
    classifier: LogisticRegression
    threshold: float
    metrics: dict[str, Any]
    holdout: HoldoutScores = field(repr=False)


def _source_counts(messages: Sequence[Message]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for m in messages:
        counts.setdefault(m.source, Counter())[m.label] += 1
    return {name: {"spam": c["spam"], "ham": c["ham"]} for name, c in counts.items()}


def _baseline_scores(train_texts: list[str], y_train: np.ndarray, test_texts: list[str]):
    """The tutorial pipeline, as it was: label 1 = ham, default threshold."""
    vectorizer = TfidfVectorizer(min_df=1, stop_words="english", lowercase=True)
    classifier = LogisticRegression().fit(vectorizer.fit_transform(train_texts), 1 - y_train)
    spam_column = list(classifier.classes_).index(0)
    return classifier.predict_proba(vectorizer.transform(test_texts))[:, spam_column]


def _select(
    y: np.ndarray, sources: np.ndarray, candidates: Sequence[Any], max_ham_blocked: float
) -> tuple[int, float, list[dict[str, Any]]]:
    table = []
    best, best_key = 0, (-2.0, -1.0)
    for index, candidate in enumerate(candidates):
        threshold, per_source = _threshold(candidate.oof_scores, y, sources, max_ham_blocked)
        report = classification_report(y, candidate.oof_scores, threshold)
        row = {"params": dict(candidate.params), **brief(report)}
        if len(set(sources.tolist())) > 1:  # every source reported, limited or not
            row["source_thresholds"] = per_source
            row["per_source"] = {
                name: brief(r)
                for name, r in per_source_report(
                    y, candidate.oof_scores, sources, threshold
                ).items()
            }
        table.append(row)
        key = selection_key(report)
        if key > best_key:
            best, best_key = index, key
    return best, table[best]["threshold"], table


def _min_per_class(options: TrainOptions) -> int:
    return max(10, math.ceil(options.folds / (1.0 - options.holdout_fraction)) + 1)


def _check_size(messages: Sequence[Message], options: TrainOptions) -> None:
    """Each class must fill every CV fold and appear in the holdout."""
    need = _min_per_class(options)
    counts = Counter(m.label for m in messages)
    if min(counts["spam"], counts["ham"]) < need:
        raise DataError(
            f"too few distinct messages to train and evaluate: {counts['spam']} spam and "
            f"{counts['ham']} ham after removing duplicates; need at least {need} of each"
        )


@dataclass(frozen=True)
class _Fitted:
    """One protocol's outcome on the training part, before the holdout is scored."""

    vectorizer: Any
    classifier: Any
    threshold: float
    params: dict[str, Any]
    description: str
    cv: dict[str, Any]
    cv_seconds: float
    fit_seconds: float
    cpu_workers: float
    gate_oof_accuracy: float | None = None
    scored_oof: np.ndarray | None = None  # per training row; nan where never scored


def _always_trained(sources: np.ndarray) -> np.ndarray:
    """The rows that join every fold's training and are never scored: reports and the
    uncertain stratum, which sit where the model errs or hesitates by construction."""
    return np.isin(sources, [FEEDBACK_SOURCE, CAPTURE_UNCERTAIN_SOURCE])


def _choosing(sources: np.ndarray, options: TrainOptions, expert: bool = False) -> np.ndarray:
    """The rows whose out-of-fold scores choose settings and thresholds (of the pooled
    experts, with ``expert``): the corpus's, and the random stratum's when
    ``options.random_captures_choose`` says so."""
    people = np.isin(sources, PEOPLE_SOURCES)
    if options.random_captures_choose == "all" or (
        expert and options.random_captures_choose == "expert"
    ):
        return ~people | (sources == CAPTURE_RANDOM_SOURCE)
    return ~people


def _fit_single(
    x_train: list[str], y_train: np.ndarray, sources: np.ndarray, options: TrainOptions
) -> _Fitted:
    """One vectorizer, one logistic regression, one threshold (one medium).

    With too few people's labels for an expert of their own, they are folded with the
    corpus, but only the rows of :func:`_choosing` choose the setting and the threshold.
    """
    t0 = time.perf_counter()
    candidates = cross_validate_grid(
        x_train, y_train, options.grid, options.folds, options.seed, options.n_jobs
    )
    chosen = _choosing(sources, options)
    best, threshold, cv_table = _select(
        y_train[chosen],
        sources[chosen],
        [replace(c, oof_scores=c.oof_scores[chosen]) for c in candidates],
        options.max_ham_blocked,
    )
    params = dict(candidates[best].params)
    cv_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectorizer, classifier = fit_model(x_train, y_train, params)
    return _Fitted(
        vectorizer=vectorizer,
        classifier=classifier,
        threshold=threshold,
        params=params,
        description="LogisticRegression(solver='liblinear')",
        cv={"selected": cv_table[best], "candidates": cv_table},
        cv_seconds=cv_seconds,
        fit_seconds=time.perf_counter() - t0,
        cpu_workers=candidates[0].cpu_seconds,
        scored_oof=candidates[best].oof_scores,
    )


def _experts_apply(media: np.ndarray, y: np.ndarray, options: TrainOptions) -> bool:
    """Several media, each with enough spam and ham for an expert of its own.

    A pooled medium (reports) needs only enough messages for the gate to learn its look:
    its expert learns both labels from every row, so a few reports of one label still
    get an expert of their own, and the corpus's experts stay untouched by them.
    """
    names = set(media.tolist())
    need = _min_per_class(options)

    def enough(name: str) -> bool:
        rows = media == name
        if name in options.pooled_media:
            return int(np.sum(rows)) >= need
        return min(np.sum(rows & (y == 1)), np.sum(rows & (y == 0))) >= need

    return len(names) > 1 and all(enough(n) for n in names)


def _fit_experts(
    texts: np.ndarray,
    y_train: np.ndarray,
    sources: np.ndarray,
    media: np.ndarray,
    options: TrainOptions,
) -> _Fitted:
    """One shared vectorizer, a gate and one expert per medium (``trainer.experts``)."""
    t0 = time.perf_counter()
    cv = cross_validate_experts(
        texts.tolist(),
        y_train,
        media.tolist(),
        options.expert_grid,
        options.gate_grid,
        options.folds,
        options.seed,
        options.n_jobs,
        pooled=options.pooled_media,
        report_weight=options.report_weight,
        always_train=_always_trained(sources).tolist(),
    )
    selection = select_experts(
        cv,
        y_train,
        sources,
        media,
        options.max_ham_blocked,
        options.gate_sharpness,
        chosen_on=_choosing(sources, options),
        pooled_chosen_on=_choosing(sources, options, expert=True),
    )
    cv_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectorizer = make_vectorizer()
    features = vectorizer.fit_transform(texts.tolist())
    classifier = fit_experts(
        features, y_train, media, selection, options.pooled_media, options.report_weight
    )
    return _Fitted(
        vectorizer=vectorizer,
        classifier=classifier,
        threshold=selection.threshold,
        params={"experts": selection.params, "gate": selection.gate_params},
        description=(
            "MediumExperts: a LogisticRegression gate predicting the medium, mixing one "
            "LogisticRegression(solver='liblinear') expert per medium"
        ),
        cv=selection.metrics,
        cv_seconds=cv_seconds,
        fit_seconds=time.perf_counter() - t0,
        cpu_workers=cv.cpu_seconds,
        gate_oof_accuracy=selection.metrics["selected"]["gate_accuracy"],
        scored_oof=selection.scored_oof,
    )


def _report_media(
    metrics: dict[str, Any],
    classifier: MediumExperts,
    fitted: _Fitted,
    features_test: Any,
    media_test: np.ndarray,
) -> None:
    """The mixture's media, their own thresholds and the gate's accuracy, into ``metrics``."""
    truth = np.array([classifier.media.index(m) for m in media_test])
    holdout_accuracy = float(np.mean(classifier.route(features_test) == truth))
    thresholds = fitted.cv["selected"]["medium_thresholds"]
    metrics["protocol"]["media"] = (
        "one expert per medium, fitted on that medium's messages with its own CV-chosen "
        "setting and out-of-fold threshold (same rule, that medium's messages only); each "
        "expert's logit is shifted so its threshold maps to 0.5; a gate predicting the "
        "medium mixes them; the published threshold is the rule on the mixture's "
        "out-of-fold scores. spam_probability is a score on this common scale"
    )
    metrics["model"]["media"] = {
        name: {
            "threshold": thresholds[name],
            "params": fitted.params["experts"][name],
            "offset": float(offset),
        }
        for name, offset in zip(classifier.media, classifier.offsets, strict=True)
    }
    metrics["model"]["gate"] = {
        "params": fitted.params["gate"],
        "accuracy_oof": fitted.gate_oof_accuracy,
        "accuracy_holdout": holdout_accuracy,
    }


def _people_record(
    kind: str, merge: FeedbackMerge, kept: Sequence[Message], train_idx: np.ndarray
) -> dict[str, Any]:
    """``data.feedback`` or ``data.capture``: the counts, the digest, and which texts of that
    kind trained the model (every one that joined: none is held out)."""
    trained_on = sorted(
        found[1]
        for found in (labelled_id(kept[j]) for j in train_idx)
        if found is not None and found[0] == kind
    )
    record: dict[str, Any] = {**merge.as_dict(), "trained_on": trained_on}
    if kind == "feedback":
        record["held_out"] = []  # kept for readers of the record before every report was learnt
        return record
    record["records"] = record.pop("reports")
    strata = Counter(kept[j].source for j in train_idx if kept[j].source in _CAPTURE_STRATA)
    record["strata"] = {name: strata[source] for source, name in _CAPTURE_STRATA.items()}
    return record


_CAPTURE_STRATA = {source: stratum for stratum, source in CAPTURE_SOURCES.items()}


def _place_out_of_fold(
    fitted: _Fitted, y_train: np.ndarray, train_sources: np.ndarray
) -> dict[str, Any] | None:
    """The random stratum's out-of-fold figures at the published threshold (``cv.place``)."""
    rows = train_sources == CAPTURE_RANDOM_SOURCE
    if fitted.scored_oof is None or not np.any(rows):
        return None
    scores = fitted.scored_oof[rows]
    report = classification_report(y_train[rows], scores, fitted.threshold)
    return {
        "what": (
            "the labelled random-stratum captures (a fair sample of the place the API serves), "
            "scored out of fold at the published threshold"
        ),
        **brief(report),
        "n": int(rows.sum()),
        "confusion": report["confusion"],
    }


def train(
    messages: Sequence[Message],
    options: TrainOptions | None = None,
    feedback: Sequence[Report] = (),
    captures: Sequence[CaptureRecord] = (),
) -> TrainingResult:
    """Run the protocol in the module docstring on ``messages``, accepted reports and labelled
    captures; no I/O."""
    options = options or TrainOptions()
    started, cpu_started = time.perf_counter(), time.process_time()
    check_dataset(messages)
    merges: dict[str, FeedbackMerge] = {}
    if feedback or captures:
        messages, merges = merge_labelled(messages, feedback, captures, options.capture_medium)
    kept, dedup = deduplicate(messages)
    check_dataset(kept)
    _check_size(kept, options)
    texts = np.asarray([m.text for m in kept], dtype=object)
    y = np.asarray([LABELS[m.label] for m in kept], dtype=int)
    sources = np.asarray([m.source for m in kept], dtype=object)
    train_idx, test_idx = holdout_split(
        [m.label for m in kept],
        sources.tolist(),
        options.holdout_fraction,
        options.seed,
        never_held_out=PEOPLE_SOURCES,
    )
    x_train, y_train = texts[train_idx].tolist(), y[train_idx]
    x_test, y_test = texts[test_idx].tolist(), y[test_idx]

    media = np.asarray([m.medium for m in kept], dtype=object)
    fitted = (
        _fit_experts(texts[train_idx], y_train, sources[train_idx], media[train_idx], options)
        if _experts_apply(media, y, options)
        else _fit_single(x_train, y_train, sources[train_idx], options)
    )
    vectorizer, classifier, threshold = fitted.vectorizer, fitted.classifier, fitted.threshold
    params = fitted.params

    t0 = time.perf_counter()
    features_test = vectorizer.transform(x_test)
    scores = classifier.predict_proba(features_test)[:, 1]
    fit_seconds = fitted.fit_seconds + time.perf_counter() - t0

    holdout = classification_report(y_test, scores, threshold)
    test_sources = sources[test_idx]
    several = len(set(sources.tolist())) > 1
    metrics: dict[str, Any] = {
        "protocol": {
            "deduplication": "case-folded text with whitespace collapsed; first copy kept",
            "holdout_fraction": options.holdout_fraction,
            "seed": options.seed,
            "stratify": "label, each source split on its own",
            "cv_folds": options.folds,
            "selection": "best out-of-fold MCC at the threshold meeting max_ham_blocked",
            "threshold_scope": (
                f"pooled and every source with >= {min_source_ham(options.max_ham_blocked)} "
                "ham (enough to allow one blocked)"
            ),
            "max_ham_blocked": options.max_ham_blocked,
            "threshold_rule": "spam when P(spam) >= threshold",
        },
        "data": {
            "sources": _source_counts(messages),
            "messages": len(messages),
            "duplicates_removed": dedup["duplicates"],
            "conflicting_removed": dedup["conflicting"],
            "train": int(train_idx.size),
            "holdout": int(test_idx.size),
        },
        "model": {
            "vectorizer": "TF-IDF of word 1-2-grams and char_wb 2-5-grams (one WordCharAnalyzer)",
            "classifier": fitted.description,
            "params": params,
            "n_features": len(vectorizer.get_feature_names_out()),
            "threshold": threshold,
            "labels": dict(LABELS),
            "sklearn_version": sklearn.__version__,
        },
        "cv": fitted.cv,
        "holdout": holdout,
    }
    for kind, merge in merges.items():
        metrics["data"][kind] = _people_record(kind, merge, kept, train_idx)
    if "capture" in merges:
        metrics["protocol"]["captures"] = (
            f"every labelled capture learnt, none held out, under the medium "
            f"{options.capture_medium!r} (weighed as reports are); the random stratum is "
            "folded and scored out of fold (cv.place), the uncertain stratum joins every "
            "fold's training and is never scored; the random stratum's scores "
            + _CHOOSE_WORDS[options.random_captures_choose]
        )
        place = _place_out_of_fold(fitted, y_train, sources[train_idx])
        if place is not None:
            metrics["cv"]["place"] = place
    if merges:
        metrics["model"]["report_weight"] = options.report_weight
    if "feedback" in merges:
        metrics["protocol"]["reports"] = (
            "every accepted report learnt, none held out; in the reports' expert each weighs "
            "report_weight corpus messages, spam and ham reports balanced; that expert's "
            "setting, its threshold, the gate and the published threshold are chosen on the "
            "corpus's out-of-fold scores only"
        )
    if isinstance(classifier, MediumExperts):
        _report_media(metrics, classifier, fitted, features_test, media[test_idx])
    if several:
        metrics["holdout_per_source"] = per_source_report(y_test, scores, test_sources, threshold)
    baseline_scores = None
    if options.baseline:
        baseline_scores = _baseline_scores(x_train, y_train, x_test)
        metrics["baseline"] = {
            "name": BASELINE_NAME,
            "holdout": classification_report(y_test, baseline_scores, 0.5),
        }
        if several:
            metrics["baseline"]["holdout_per_source"] = per_source_report(
                y_test, baseline_scores, test_sources, 0.5
            )
    # with n_jobs != 1 the folds ran in worker processes, whose CPU time is not ours
    workers = fitted.cpu_workers if options.n_jobs != 1 else 0.0
    metrics["timing_s"] = {
        "cv": round(fitted.cv_seconds, 2),
        "fit_and_score": round(fit_seconds, 2),
        "total": round(time.perf_counter() - started, 2),
        "cpu": round(time.process_time() - cpu_started + workers, 2),
        "cpu_workers": round(workers, 2),
    }
    return TrainingResult(
        vectorizer=vectorizer,
        classifier=classifier,
        threshold=threshold,
        metrics=metrics,
        holdout=HoldoutScores(y_test, test_sources, scores, baseline_scores),
    )


def summarize(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The small summary ``current.json`` carries (the API's ``GET /model`` shows it)."""
    holdout = metrics["holdout"]
    summary: dict[str, Any] = {
        key: round(float(holdout[key]), 6)
        for key in ("accuracy", "precision", "recall", "f1", "mcc", "ham_blocked")
    }
    summary["holdout_messages"] = int(holdout["n"])
    # the reference ``trainer monitor`` tests live traffic against: the share of the holdout
    # that the published threshold calls spam (a mixture's too: its published threshold)
    summary["predicted_spam_rate"] = round(float(holdout["predicted_spam_rate"]), 6)
    summary["train_messages"] = int(metrics["data"]["train"])
    summary["sources"] = sorted(metrics["data"]["sources"])
    summary["max_ham_blocked"] = metrics["protocol"]["max_ham_blocked"]
    media = metrics["model"].get("media")
    if media:  # a mixture of experts: each medium's own threshold (before the common scale)
        summary["media"] = {name: round(float(m["threshold"]), 6) for name, m in media.items()}
        summary["gate_accuracy"] = round(float(metrics["model"]["gate"]["accuracy_holdout"]), 6)
    feedback = metrics["data"].get("feedback")
    if feedback:  # which reports trained it: a count and the digest of the reports given
        summary["feedback"] = {
            "trained_on": len(feedback["trained_on"]),
            "digest": feedback["digest"],
        }
    capture = metrics["data"].get("capture")
    if capture:  # the same for labelled captures, with the random stratum's share
        summary["capture"] = {
            "trained_on": len(capture["trained_on"]),
            "random": capture["strata"]["random"],
            "digest": capture["digest"],
        }
    return summary

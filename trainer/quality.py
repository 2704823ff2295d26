"""Live error rates from the labelled captures of the random stratum (``monitor --quality``).

Only the random stratum is a fair sample of the traffic: each scored message was kept
with probability ``r`` (``CAPTURE_RATE``) whatever it said, so among its labelled records
the share of ham the model blocked estimates the share it blocks live. The uncertain
stratum was kept *because* the model hesitated, and reports because it erred: either would
overstate its errors, so neither is read here. (The queue serves the random stratum in
arrival order, never by score, so the labelled ones stay a fair sample of it.)

Per model version that answered the records, three proportions, each with its 95 %
interval: **ham blocked** (of the ham, the share answered SPAM), **spam recall** (of the
spam, the share answered SPAM) and **accuracy** (the share answered right). The verdict is
the one the API gave (``spam_probability >= threshold`` as stored at capture).

**Weights.** A record weighs ``1 / inclusion_probability``: when ``CAPTURE_RATE`` changed,
a record kept at 1 % stands for twice the traffic of one kept at 2 %. The estimate is the
weighted share (a ratio estimator); with one rate throughout it is the plain share.

**Interval.** Wilson's score interval, on Kish's effective sample size
``n_eff = (sum w)^2 / sum w^2`` for weights (``n`` when all weigh the same), with Brown, Cai
and DasGupta's modification at the boundary (Statistical Science 16(2), 2001, section
4.1.1): for 1 to 3 successes (1 to 2 when ``n <= 50``) the lower bound is the one-sided
Poisson bound ``chi2_{0.05}(2x) / (2n)``, and the same for the upper bound with failures.
Why: at n of 50 to 200 the Wald interval covers far less than 95 % near 0 and 1 (where
ham blocked and recall live); Clopper-Pearson covers at least 95 % everywhere but is wide
(97-98 % on average); plain Wilson averages 95 % but dips to 84 % just above 0 (one success
in n, where a good model's ham blocked lies), which the modification lifts to 92-93 %
(exact coverage over p in (0, 0.5], n = 30 to 200; ``tests/trainer/test_quality.py``).

Pure: records in, figures out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from chalicelib.capture_format import CaptureRecord
from scipy.stats import chi2

__all__ = [
    "Z_95",
    "Interval",
    "QualityReport",
    "VersionQuality",
    "quality_report",
    "render_quality",
    "weighted_interval",
    "wilson_interval",
]

#: The standard normal's 97.5 % quantile: a two-sided 95 % interval.
Z_95 = 1.959963984540054
_ALPHA_ONE_SIDED = 0.05  # Brown, Cai and DasGupta's Poisson bound at the boundary


@dataclass(frozen=True)
class Interval:
    """An estimated proportion, its 95 % interval, and what it rests on."""

    lo: float
    est: float
    hi: float
    n: int  # records in the proportion's domain
    n_eff: float  # Kish's effective sample size (n when every record weighs the same)

    def as_list(self) -> list[float]:
        return [round(self.lo, 6), round(self.est, 6), round(self.hi, 6)]


def wilson_interval(p: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``p`` observed on ``n`` trials (n may be a
    real effective size), with Brown, Cai and DasGupta's boundary modification.

    >>> [round(b, 4) for b in wilson_interval(3 / 10, 10)]
    [0.1078, 0.6032]
    >>> [round(b, 5) for b in wilson_interval(1 / 100, 100)]  # one success: the Poisson bound
    [0.00051, 0.05449]
    >>> wilson_interval(0.0, 50)[0], round(wilson_interval(0.0, 50)[1], 4)
    (0.0, 0.0713)
    """
    if n <= 0:
        raise ValueError(f"an interval needs at least one trial, got n = {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a proportion is between 0 and 1, got {p}")
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    boundary = 2.0 if n <= 50 else 3.0
    successes, failures = p * n, (1.0 - p) * n
    if 0.0 < successes <= boundary + 1e-9:
        lo = _poisson_lower(successes) / n
    if 0.0 < failures <= boundary + 1e-9:
        hi = 1.0 - _poisson_lower(failures) / n
    return lo, hi


def _poisson_lower(count: float) -> float:
    """The one-sided lower bound of a Poisson mean after ``count`` events (1: 0.0513)."""
    return float(chi2.ppf(_ALPHA_ONE_SIDED, 2.0 * count) / 2.0)


def weighted_interval(hits: np.ndarray, weights: np.ndarray) -> Interval | None:
    """The weighted share of ``hits`` and its interval (:func:`wilson_interval` on Kish's
    effective size); ``None`` when there is no record.

    >>> i = weighted_interval(np.array([1, 0, 0, 0]), np.array([1.0, 1.0, 1.0, 1.0]))
    >>> i.est, i.n, i.n_eff
    (0.25, 4, 4.0)
    >>> i = weighted_interval(np.array([1, 0]), np.array([3.0, 1.0]))
    >>> i.est, i.n_eff
    (0.75, 1.6)
    """
    hits, weights = np.asarray(hits, dtype=float), np.asarray(weights, dtype=float)
    if hits.size == 0:
        return None
    total = float(weights.sum())
    p = float(weights @ hits) / total
    n_eff = total * total / float(weights @ weights)
    lo, hi = wilson_interval(min(1.0, max(0.0, p)), n_eff)
    return Interval(lo=lo, est=p, hi=hi, n=int(hits.size), n_eff=n_eff)


@dataclass(frozen=True)
class VersionQuality:
    """One model version's live error rates (``None``: no labelled record of that kind)."""

    model_version: str
    labelled: int
    ham: int
    spam: int
    ham_blocked: Interval | None
    recall: Interval | None
    accuracy: Interval
    rates: int  # how many inclusion probabilities its records carry

    def as_json(self) -> dict[str, Any]:
        def shown(interval: Interval | None) -> list[float] | None:
            return None if interval is None else interval.as_list()

        return {
            "model_version": self.model_version,
            "labelled": self.labelled,
            "ham_blocked": shown(self.ham_blocked),
            "recall": shown(self.recall),
            "accuracy": shown(self.accuracy),
        }


@dataclass(frozen=True)
class QualityReport:
    """Every version's figures, and what was left out (said in the table)."""

    versions: list[VersionQuality]
    uncertain_left_out: int

    def as_json(self) -> dict[str, Any]:
        return {"versions": [v.as_json() for v in self.versions]}

    @property
    def used(self) -> int:
        return sum(v.labelled for v in self.versions)


def _version_quality(version: str, records: Sequence[CaptureRecord]) -> VersionQuality:
    weights = np.array([1.0 / r.inclusion_probability for r in records])
    spam = np.array([r.label == "spam" for r in records])
    flagged = np.array([r.classification == "SPAM" for r in records])
    accuracy = weighted_interval(flagged == spam, weights)
    assert accuracy is not None  # a version is listed only with a record
    return VersionQuality(
        model_version=version,
        labelled=len(records),
        ham=int((~spam).sum()),
        spam=int(spam.sum()),
        ham_blocked=weighted_interval(flagged[~spam], weights[~spam]),
        recall=weighted_interval(flagged[spam], weights[spam]),
        accuracy=accuracy,
        rates=len({r.inclusion_probability for r in records}),
    )


def quality_report(labelled: Sequence[CaptureRecord]) -> QualityReport:
    """The live error rates per model version, from the random stratum of ``labelled``.

    ``labelled`` are labelled records (``trainer.capture_store.load_labelled``); those of
    the uncertain stratum are counted and left out.
    """
    if any(r.label is None for r in labelled):
        raise ValueError("quality_report takes labelled records only")
    random = [r for r in labelled if r.stratum == "random"]
    by_version: dict[str, list[CaptureRecord]] = {}
    for record in random:
        by_version.setdefault(record.model_version, []).append(record)
    return QualityReport(
        versions=[_version_quality(v, rs) for v, rs in sorted(by_version.items())],
        uncertain_left_out=len(labelled) - len(random),
    )


def _cell(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    return (
        f"{100 * interval.est:.1f} % [{100 * interval.lo:.1f}, {100 * interval.hi:.1f}] "
        f"of {interval.n}"
    )


def render_quality(report: QualityReport, where: str) -> str:
    """The report as text: one row per version, then what it rests on."""
    lines = [
        f"live error rates from {where}: labelled records of the random stratum only,",
        "each weighed by 1 / its inclusion probability; 95 % intervals (Wilson's, on the",
        "effective sample size)",
        "",
        f"{'model version':<28}{'labelled':>9}  {'ham blocked':<30}{'spam recall':<30}accuracy",
    ]
    for v in report.versions:
        lines.append(
            f"{v.model_version:<28}{v.labelled:>9}  {_cell(v.ham_blocked):<30}"
            f"{_cell(v.recall):<30}{_cell(v.accuracy)}"
        )
        if v.rates > 1:
            lines.append(
                f"{'':<39}captured at {v.rates} rates: weighted, effective size "
                f"{v.accuracy.n_eff:.1f} of {v.labelled}"
            )
    if not report.versions:
        lines.append("(no labelled record of the random stratum: label some from the queue)")
    lines += [
        "",
        f"used {report.used} labelled record(s) of the random stratum; left out "
        f"{report.uncertain_left_out} of the uncertain stratum (kept because the model "
        "hesitated, they would overstate its errors) and every report",
    ]
    return "\n".join(lines)

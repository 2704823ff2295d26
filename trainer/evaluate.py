"""Scoring a spam classifier the way its users feel it: pure functions, arrays in, dicts out.

Labels are integers, 1 = spam and 0 = ham (the registry's ``{"spam": 1, "ham": 0}``);
scores are spam probabilities and a message is flagged when ``score >= threshold``.
The figure that matters most is the *ham-blocked rate*: the share of legitimate
messages flagged as spam, because losing a real message costs more than seeing a spam.
Every figure comes from ``sklearn.metrics``; a rate with nothing to divide by is 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
)

__all__ = [
    "REPORT_COLUMNS",
    "brief",
    "choose_threshold",
    "classification_report",
    "confusion",
    "format_table",
    "per_source_report",
    "selection_key",
]

#: (key in a report, column title) in the order :func:`format_table` prints them.
REPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("n", "messages"),
    ("accuracy", "accuracy"),
    ("precision", "spam prec"),
    ("recall", "spam recall"),
    ("f1", "spam F1"),
    ("mcc", "MCC"),
    ("ham_blocked", "ham blocked"),
)

#: Label order of the confusion matrix: ham (negative) first, spam (positive) second.
_LABELS = (0, 1)


def _as_arrays(y_true: Sequence[int], y_pred: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(y_true, dtype=int)
    pred = np.asarray(y_pred, dtype=int)
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} labels but y_pred has {pred.size}")
    return true, pred


def confusion(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, int]:
    """Counts of true/false positives/negatives, spam being the positive class.

    Parameters
    ----------
    y_true, y_pred : sequence of int
        Labels, 1 = spam and 0 = ham.

    Returns
    -------
    dict
        ``tn`` (ham passed), ``fp`` (ham blocked), ``fn`` (spam missed), ``tp`` (spam caught).

    See Also
    --------
    classification_report : the rates derived from these counts.

    Examples
    --------
    >>> confusion([0, 0, 1, 1], [0, 1, 1, 0])
    {'tn': 1, 'fp': 1, 'fn': 1, 'tp': 1}
    """
    true, pred = _as_arrays(y_true, y_pred)
    (tn, fp), (fn, tp) = confusion_matrix(true, pred, labels=_LABELS).tolist()
    return {"tn": tn, "fp": fp, "fn": fn, "tp": tp}


def classification_report(
    y_true: Sequence[int],
    scores: Sequence[float],
    threshold: float,
) -> dict[str, Any]:
    """Accuracy, spam precision/recall/F1, MCC and ham-blocked rate at one threshold.

    Parameters
    ----------
    y_true : sequence of int
        Labels, 1 = spam and 0 = ham.
    scores : sequence of float
        Spam probabilities; ``score >= threshold`` means flagged as spam.
    threshold : float
        The decision threshold.

    Returns
    -------
    dict
        ``n``, ``n_spam``, ``n_ham``, ``accuracy``, ``precision``, ``recall``, ``f1``,
        ``mcc``, ``ham_blocked`` (share of ham flagged), ``spam_missed``,
        ``predicted_spam_rate`` (share of all messages flagged: what ``trainer monitor``
        compares live traffic with), ``average_precision`` (threshold-free; ``None`` with
        one class) and ``confusion``.

    See Also
    --------
    confusion : the counts behind the rates.
    per_source_report : the same, once per data source.

    Examples
    --------
    >>> r = classification_report([0, 0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9, 0.4], 0.5)
    >>> r["accuracy"], r["recall"], r["ham_blocked"], r["confusion"]["fp"]
    (0.6, 0.5, 0.333..., 1)
    >>> r["predicted_spam_rate"]  # 2 of 5 flagged: one spam caught, one ham blocked
    0.4
    """
    true = np.asarray(y_true, dtype=int)
    proba = np.asarray(scores, dtype=float)
    pred = (proba >= threshold).astype(int)
    counts = confusion(true, pred)
    # each true class's row as shares: [0, 1] is ham blocked, [1, 0] spam missed (0 if empty)
    shares = confusion_matrix(true, pred, labels=_LABELS, normalize="true")
    scored = bool(true.size)  # accuracy and MCC are undefined (nan) on no messages
    return {
        "n": int(true.size),
        "n_spam": counts["tp"] + counts["fn"],
        "n_ham": counts["tn"] + counts["fp"],
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(true, pred)) if scored else 0.0,
        "precision": float(precision_score(true, pred, zero_division=0)),
        "recall": float(recall_score(true, pred, zero_division=0)),
        "f1": float(f1_score(true, pred, zero_division=0)),
        "mcc": float(matthews_corrcoef(true, pred)) if scored else 0.0,
        "ham_blocked": float(shares[0, 1]),
        "spam_missed": float(shares[1, 0]),
        "predicted_spam_rate": (counts["tp"] + counts["fp"]) / true.size if scored else 0.0,
        "average_precision": (
            float(average_precision_score(true, proba)) if len(set(true.tolist())) == 2 else None
        ),
        "confusion": counts,
    }


def per_source_report(
    y_true: Sequence[int],
    scores: Sequence[float],
    sources: Sequence[str],
    threshold: float,
) -> dict[str, dict[str, Any]]:
    """:func:`classification_report` for each distinct source, in first-seen order.

    See Also
    --------
    classification_report : the figures computed for each source.

    Examples
    --------
    >>> sources = ["sms", "sms", "mail", "mail"]
    >>> rep = per_source_report([0, 1, 0, 1], [0.1, 0.9, 0.8, 0.7], sources, 0.5)
    >>> {name: r["accuracy"] for name, r in rep.items()}
    {'sms': 1.0, 'mail': 0.5}
    """
    true = np.asarray(y_true, dtype=int)
    proba = np.asarray(scores, dtype=float)
    names = np.asarray(sources, dtype=object)
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(names.tolist()):
        mask = names == name
        out[str(name)] = classification_report(true[mask], proba[mask], threshold)
    return out


def brief(report: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a CV table keeps of a :func:`classification_report`."""
    keys = ("threshold", "accuracy", "precision", "recall", "f1", "mcc", "ham_blocked")
    return {k: report[k] for k in keys}


def selection_key(report: Mapping[str, Any]) -> tuple[float, float]:
    """How CV ranks settings: MCC, then recall (rounded, so float noise never decides).

    A later setting wins only when strictly better, so ties keep the earlier one.
    """
    return (round(report["mcc"], 6), round(report["recall"], 6))


def choose_threshold(ham_scores: Sequence[float], max_ham_blocked: float) -> float:
    """The lowest threshold that flags at most ``max_ham_blocked`` of these ham messages.

    Meant for out-of-fold (cross-validated) spam probabilities of ham messages: with
    ``k = floor(max_ham_blocked * n_ham)`` hams allowed above it, the threshold sits halfway
    between the (k+1)-th highest ham score and the next higher distinct score, so unseen
    ham that scores a little above the cut is not flagged at once. Kept inside (0, 1).

    Parameters
    ----------
    ham_scores : sequence of float
        Spam probabilities of known ham messages.
    max_ham_blocked : float
        The largest tolerated share of ham flagged as spam, in [0, 1).

    Returns
    -------
    float
        A threshold t; a message is spam when its score is ``>= t``.

    See Also
    --------
    classification_report : measures the ham-blocked rate a threshold gives.

    Examples
    --------
    >>> scores = [0.01] * 996 + [0.3, 0.4, 0.6, 0.9]
    >>> choose_threshold(scores, 0.002)   # 2 of 1000 hams may pass: cut between 0.4 and 0.6
    0.5
    >>> choose_threshold(scores, 0.0)     # none may pass: between 0.9 and 1
    0.95
    """
    if not 0.0 <= max_ham_blocked < 1.0:
        raise ValueError(f"max_ham_blocked must be in [0, 1), got {max_ham_blocked}")
    ordered = np.sort(np.asarray(ham_scores, dtype=float))[::-1]
    if ordered.size == 0:
        raise ValueError("choose_threshold needs at least one ham score")
    allowed = int(np.floor(max_ham_blocked * ordered.size + 1e-9))
    if allowed >= ordered.size:
        return 1e-6
    cut = ordered[allowed]  # the highest ham score that must stay below the threshold
    higher = ordered[ordered > cut]
    upper = float(higher.min()) if higher.size else 1.0
    threshold = (float(cut) + upper) / 2.0
    return float(min(max(threshold, 1e-6), 1.0 - 1e-6))


def _fmt(value: Any, key: str) -> str:
    if key == "n":
        return str(value)
    if key == "ham_blocked":
        return f"{100 * value:.2f}%"
    return f"{value:.4f}"


def format_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table, one row per named report (as from :func:`classification_report`).

    Examples
    --------
    >>> r = classification_report([0, 1], [0.2, 0.9], 0.5)
    >>> print(format_table({"model": r}))  # doctest: +NORMALIZE_WHITESPACE
                messages  accuracy  spam prec  spam recall  spam F1     MCC  ham blocked
    model              2    1.0000     1.0000       1.0000   1.0000  1.0000        0.00%
    """
    width = max([len(name) for name in rows] + [5])
    titles = "".join(f"  {title:>{max(8, len(title))}}" for _, title in REPORT_COLUMNS)
    header = " " * width + titles
    lines = [header.rstrip()]
    for name, report in rows.items():
        cells = "".join(
            f"  {_fmt(report[key], key):>{max(8, len(title))}}" for key, title in REPORT_COLUMNS
        )
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)

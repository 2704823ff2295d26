"""The shift test: is the live spam rate still the one the model predicted on its holdout?

A model's *reference* is the share of its holdout that its published threshold calls spam
(``predicted_spam_rate`` in its metrics, over ``holdout_messages``). Live, the API counts
the messages it scores and its SPAM verdicts; the share in the newest window of traffic is
compared with the reference by a pooled two-proportion z-test. Both sides are the model's
own verdicts, so the test sees a change in what the model is shown (more spam, other
messages), not whether its verdicts are right: that needs labels.

Pure functions, standard library only: counts in, a verdict out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_WINDOW",
    "Reference",
    "ShiftTest",
    "last_window",
    "reference_from",
    "two_proportion_test",
]

#: The test's significance level: a window is flagged when its p-value is below it.
DEFAULT_ALPHA = 0.01
#: Messages in the live window the test looks at.
DEFAULT_WINDOW = 1000


@dataclass(frozen=True)
class Reference:
    """A model's predicted spam share on its holdout, and the holdout's size."""

    rate: float
    n: int


@dataclass(frozen=True)
class ShiftTest:
    """One test's inputs and outcome (``trainer monitor --json``'s ``shift``)."""

    reference_rate: float
    reference_n: int
    live_rate: float
    live_n: int
    z: float
    p_value: float
    alpha: float
    flagged: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def two_proportion_test(
    reference: Reference, live_spam: int, live_n: int, alpha: float = DEFAULT_ALPHA
) -> ShiftTest:
    """Pooled two-proportion z-test of the live spam share against the reference, two-sided.

    ``z`` is positive when the live share is higher. Under the null (one spam share for
    both), ``z`` is close to standard normal when each side holds a few spam and a few ham
    (n·p ≥ 5 is the usual rule); with fewer, the p-value is rough. Two equal shares of 0 or
    1 give ``z = 0``, ``p = 1``: there is nothing to tell them apart.

    Parameters
    ----------
    reference : Reference
        The model's holdout share (in [0, 1]) and holdout size (at least 1).
    live_spam, live_n : int
        SPAM verdicts and messages in the live window (``0 <= live_spam <= live_n``, n ≥ 1).
    alpha : float
        Significance level in (0, 1): ``flagged`` when ``p_value < alpha``.

    Returns
    -------
    ShiftTest

    See Also
    --------
    last_window : the live counts of the newest window.

    Examples
    --------
    >>> t = two_proportion_test(Reference(0.12, 1000), live_spam=290, live_n=1000)
    >>> round(t.z, 3), t.p_value < 1e-15, t.flagged
    (9.416, True, True)
    >>> t = two_proportion_test(Reference(0.12, 1000), live_spam=130, live_n=1000)
    >>> round(t.z, 3), round(t.p_value, 3), t.flagged
    (0.676, 0.499, False)
    """
    _check_rate("reference rate", reference.rate)
    _check_count("reference n", reference.n, minimum=1)
    _check_count("live n", live_n, minimum=1)
    _check_count("live spam", live_spam, minimum=0)
    if live_spam > live_n:
        raise ValueError(f"live spam ({live_spam}) cannot exceed live n ({live_n})")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    live_rate = live_spam / live_n
    pooled = (reference.rate * reference.n + live_spam) / (reference.n + live_n)
    variance = pooled * (1.0 - pooled) * (1.0 / reference.n + 1.0 / live_n)
    z = (live_rate - reference.rate) / math.sqrt(variance) if variance > 0.0 else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2.0))
    return ShiftTest(
        reference_rate=reference.rate,
        reference_n=reference.n,
        live_rate=live_rate,
        live_n=live_n,
        z=z,
        p_value=p_value,
        alpha=alpha,
        flagged=p_value < alpha,
    )


def _check_rate(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share between 0 and 1, got {value!r}")


def _check_count(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")


def last_window(buckets: Sequence[tuple[int, int]], size: int) -> tuple[int, int] | None:
    """``(spam, messages)`` of the newest buckets that hold at least ``size`` messages.

    ``buckets`` are ``(messages, spam)`` counts, oldest first: one per log line, or one per
    CloudWatch period. Whole buckets are taken, so the window may hold up to one bucket
    more than ``size``. ``None`` when all of them together hold fewer than ``size``.

    >>> last_window([(50, 5), (100, 40), (100, 10)], size=150)
    (50, 200)
    >>> last_window([(50, 5)], size=150) is None
    True
    """
    if size < 1:
        raise ValueError(f"the window needs at least 1 message, got {size}")
    spam = messages = 0
    for count, flagged in reversed(buckets):
        messages += count
        spam += flagged
        if messages >= size:
            return spam, messages
    return None


def reference_from(
    summary: Mapping[str, Any], metrics: Mapping[str, Any] | None = None
) -> Reference | None:
    """The reference a version recorded, from its manifest's summary or its ``metrics.json``.

    The summary's ``predicted_spam_rate`` and ``holdout_messages`` come first; a model
    trained before the summary carried them still has its holdout report in
    ``metrics.json``: its ``predicted_spam_rate``, else its confusion counts at the published
    threshold. ``None`` when neither holds one (a model from elsewhere).

    >>> reference_from({"predicted_spam_rate": 0.121, "holdout_messages": 1032})
    Reference(rate=0.121, n=1032)
    >>> holdout = {"n": 10, "confusion": {"tp": 2, "fp": 1, "tn": 6, "fn": 1}}
    >>> reference_from({}, {"holdout": holdout})
    Reference(rate=0.3, n=10)
    >>> reference_from({"mcc": 0.9}, {"f1": 0.9}) is None
    True
    """
    found = _reference(summary.get("predicted_spam_rate"), summary.get("holdout_messages"))
    if found is not None or metrics is None:
        return found
    holdout = metrics.get("holdout")
    if not isinstance(holdout, Mapping):
        return None
    n = holdout.get("n")
    rate = holdout.get("predicted_spam_rate")
    confusion = holdout.get("confusion")
    if rate is None and isinstance(confusion, Mapping) and isinstance(n, int) and n > 0:
        flagged = confusion.get("tp", 0) + confusion.get("fp", 0)
        rate = flagged / n if isinstance(flagged, int) else None
    return _reference(rate, n)


def _reference(rate: Any, n: Any) -> Reference | None:
    valid_rate = isinstance(rate, int | float) and not isinstance(rate, bool) and 0 <= rate <= 1
    valid_n = isinstance(n, int) and not isinstance(n, bool) and n > 0
    return Reference(rate=float(rate), n=n) if valid_rate and valid_n else None

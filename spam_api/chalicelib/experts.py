"""A mixture of per-medium experts behind one gate: the classifier of a multi-medium model.

Trained on several media (SMS and email), one shared classifier ranks each medium worse
than a classifier of its own, and one threshold cannot suit media whose ham ends at
different scores. ``MediumExperts`` keeps one expert per medium, fitted on that medium's
messages only, and a gate that predicts the medium from the same features; the API
needs no medium in the request. The spam score is the gate's soft mixture::

    P(spam | x) = sum_m g_m(x) * sigmoid(z_m(x) - offset_m)

where ``g`` is the gate's medium probabilities sharpened by ``sharpness`` (``g_m ** s``,
renormalised: 1 keeps the gate as fitted, larger values commit to its likeliest medium,
so an expert's borderline verdict is less diluted by another expert's), ``z_m`` is
expert *m*'s logit and ``offset_m = logit(t_m) - logit(0.5)`` moves its
own out-of-fold threshold ``t_m`` onto the common anchor 0.5, so one published threshold
serves every medium. ``P`` is therefore a score on a common scale, not a calibrated
probability: 0.5 means "at its medium's own threshold".

It lives in ``chalicelib`` because a pickle refers to its class by module path, and this
module ships with the API. Importing it pulls in numpy only (no scikit-learn), so cold
start does not pay for it; the fitted estimators inside are scikit-learn objects that
unpickle with the layer's scikit-learn like any other model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MediumExperts", "sharpen", "sigmoid"]


def sharpen(proba: np.ndarray, sharpness: float) -> np.ndarray:
    """Rows of probabilities raised to ``sharpness`` and renormalised (in log space).

    >>> sharpen(np.array([[0.8, 0.2]]), 2.0).round(4).tolist()
    [[0.9412, 0.0588]]
    """
    if sharpness == 1.0:
        return proba
    logs = sharpness * np.log(np.clip(proba, 1e-300, 1.0))
    weights = np.exp(logs - logs.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function; the trainer scores out of fold with this same one."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|, unlike 1 / (1 + exp(-z))


class MediumExperts:
    """Gate + one logistic-regression expert per medium; ``classes_ == [0, 1]`` (1 = spam).

    Parameters
    ----------
    media : names of the media, in expert order (e.g. ``("email", "sms")``).
    gate : fitted classifier predicting the medium name; ``predict_proba`` and ``classes_``.
    experts : one fitted binary classifier per medium (classes 0/1, ``decision_function``).
    offsets : per expert, the logit subtracted so its own threshold maps to 0.5.
    sharpness : exponent applied to the gate's probabilities before renormalising.

    See Also
    --------
    chalicelib.model.build_live_model : serves it like a plain classifier; ``explain``
        uses the weights of the expert the gate picks (:meth:`route`).
    chalicelib.model.ExpertWeights : the explain contract :meth:`spam_weights` and
        :meth:`route` fulfil.

    Examples
    --------
    >>> class Stub:  # tiny stand-ins for fitted estimators
    ...     def __init__(self, classes, z): self.classes_, self.z = np.array(classes), z
    ...     def decision_function(self, X): return np.full(len(X), self.z)
    ...     def predict_proba(self, X): return np.tile([0.9, 0.1], (len(X), 1))
    >>> mix = MediumExperts(("email", "sms"), Stub(["email", "sms"], 0.0),
    ...                     [Stub([0, 1], 4.0), Stub([0, 1], -4.0)], [0.0, 0.0])
    >>> mix.predict_proba([[0]]).round(3).tolist(), mix.route([[0]]).tolist()
    ([[0.114, 0.886]], [0])
    """

    def __init__(
        self,
        media: Sequence[str],
        gate: Any,
        experts: Sequence[Any],
        offsets: Sequence[float],
        sharpness: float = 1.0,
    ) -> None:
        self.media = tuple(str(m) for m in media)
        self.gate = gate
        self.experts = list(experts)
        self.offsets = np.asarray(offsets, dtype=float)
        self.sharpness = float(sharpness)
        if not self.sharpness > 0:
            raise ValueError(f"sharpness must be positive, got {sharpness}")
        if not (len(self.media) == len(self.experts) == self.offsets.size):
            raise ValueError("media, experts and offsets must have one entry per medium")
        gate_classes = [str(c) for c in gate.classes_]
        if sorted(gate_classes) != sorted(self.media):
            raise ValueError(f"the gate predicts {gate_classes}, the experts are {self.media}")
        # gate column of each expert, so predict_proba's columns line up with self.media
        self._gate_columns = np.array([gate_classes.index(m) for m in self.media])
        self.classes_ = np.array([0, 1])

    def gate_proba(self, X: Any) -> np.ndarray:
        """``(n, n_media)``: each medium's mixing weight (the sharpened gate), as ``media``."""
        proba = np.asarray(self.gate.predict_proba(X), dtype=float)[:, self._gate_columns]
        return sharpen(proba, self.sharpness)

    def expert_scores(self, X: Any) -> np.ndarray:
        """``(n, n_media)``: each expert's spam score on the common scale (0.5 = its threshold)."""
        logits = np.column_stack(
            [np.asarray(e.decision_function(X), dtype=float) for e in self.experts]
        )
        return sigmoid(logits - self.offsets)

    def route(self, X: Any) -> np.ndarray:
        """Index (into ``media``) of the expert the gate trusts most for each row."""
        return np.argmax(self.gate_proba(X), axis=1)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 2)``: columns ham and spam; spam is the gate-weighted mixture of experts."""
        spam = np.sum(self.gate_proba(X) * self.expert_scores(X), axis=1)
        spam = np.clip(spam, 0.0, 1.0)
        return np.column_stack([1.0 - spam, spam])

    def spam_weights(self) -> np.ndarray:
        """``(n_media, n_features)``: each expert's per-feature weight towards spam."""
        rows = []
        for expert in self.experts:
            coef = np.asarray(expert.coef_, dtype=float)[0]
            rows.append(coef if int(expert.classes_[1]) == 1 else -coef)
        return np.vstack(rows)

    def __repr__(self) -> str:
        offsets = self.offsets.round(4).tolist()
        return f"MediumExperts(media={self.media}, offsets={offsets}, sharpness={self.sharpness})"

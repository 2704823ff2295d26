"""Small test doubles shared by several test packages, and the fixture models they publish."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

__all__ = [
    "FakeClock",
    "Killed",
    "KilledBeforeDelete",
    "answer_line",
    "capture_record",
    "copy_chalice_project",
    "default_bundle",
    "fast_train_options",
    "feedback_line",
    "fit_default",
    "opaque_bundle",
    "scored_line",
    "store_keys",
    "store_states",
]


class FakeClock:
    """Seconds since the epoch that only move when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Killed(BaseException):
    """The process dying mid-move: nothing in a store catches it."""


class KilledBeforeDelete:
    """An S3 client whose process dies between a move's write and its delete."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def delete_object(self, **kwargs: Any) -> None:
        raise Killed


def store_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix``, sorted."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def store_states(s3: Any, bucket: str, prefix: str) -> dict[str, list[str]]:
    """``{item id: [states]}`` of every object of a feedback or capture store."""
    found: dict[str, list[str]] = {}
    for key in store_keys(s3, bucket, prefix):
        state = key[len(prefix) :].split("/")[0]
        found.setdefault(key.rsplit("/", 1)[-1].removesuffix(".json"), []).append(state)
    return {item: sorted(states) for item, states in sorted(found.items())}


def stored_records(s3: Any, bucket: str, prefix: str) -> dict[str, Any]:
    """Every object under ``prefix`` (a capture store's, or one state's), by key, parsed as a
    capture record."""
    from chalicelib.capture_format import parse_record

    return {
        key: parse_record(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        for key in store_keys(s3, bucket, prefix)
    }


def capture_record(
    n: int,
    stratum: str = "random",
    text: str | None = None,
    *,
    version: str = "v1",
    stored: float = 0.5,
    rate: float = 0.05,
):
    """Pending capture record number ``n`` (ids in arrival order of ``n``), kept at ``rate``
    (the random stratum) or ``(1 - rate) / 2`` (the uncertain one), the live model having
    said ``stored`` against a threshold of 0.5."""
    from chalicelib.capture_format import inclusion_probability, new_record

    return new_record(
        text if text is not None else f"message {n}",
        record_id=f"20261206T1{n // 3600 % 10}{n // 60 % 60:02d}{n % 60:02d}Z-{n:016x}",
        captured_at="2026-12-06T10:00:00Z",
        request_id=f"req-{n}",
        position=0,
        model_version=version,
        spam_probability=stored,
        threshold=0.5,
        stratum=stratum,
        inclusion_probability=inclusion_probability(stratum, rate, 0.5),
    )


def fast_train_options(**changes: Any):
    """The protocol with one setting everywhere and 3 folds: a few seconds on small data."""
    from trainer.train import TrainOptions

    one = ({"C": 30.0, "class_weight": None},)
    fast = {
        "folds": 3,
        "n_jobs": 1,
        "grid": one,
        "expert_grid": one,
        "gate_grid": ({"C": 10.0},),
        "gate_sharpness": (1.0,),
        "baseline": False,
    }
    return TrainOptions(**{**fast, **changes})


def opaque_bundle(sklearn_version: str, tag: str):
    """Registry artifacts never unpickled: for tests that read manifests and head keys only."""
    from trainer.registry import ModelBundle

    return ModelBundle(
        vectorizer_pkl=f"vectorizer {tag}".encode(),
        model_pkl=f"model {tag}".encode(),
        metrics={"mcc": 0.9},
        threshold=0.4,
        labels={"spam": 1, "ham": 0},
        sklearn_version=sklearn_version,
        metrics_summary={"mcc": 0.9},
    )


def fit_default(texts: Sequence[str], labels: Sequence[str | int]) -> tuple[Any, Any]:
    """The trainer's model at its default setting, fitted without CV: a model in seconds.

    ``labels`` may be ``"spam"``/``"ham"`` or 1/0. Pair it with
    ``trainer.artifacts.build_bundle`` to publish.

    >>> vec, clf = fit_default(["win cash now", "see you at lunch"] * 3, ["spam", "ham"] * 3)
    >>> clf.classes_.tolist(), [n for n in vec.get_feature_names_out() if "word__" in n][:2]
    ([0, 1], ['word__at', 'word__at lunch'])
    """
    from trainer.model import DEFAULT_PARAMS, encode_labels, fit_model

    return fit_model(texts, encode_labels(labels), DEFAULT_PARAMS)


def default_bundle(texts: Sequence[str], labels: Sequence[str | int], threshold: float = 0.5):
    """:func:`fit_default` as a publishable ``ModelBundle`` (its metrics: not evaluated)."""
    from trainer.artifacts import build_bundle

    vectorizer, classifier = fit_default(texts, labels)
    note = {"evaluated": False, "note": "fit_default fixture model, no holdout evaluation"}
    return build_bundle(vectorizer, classifier, threshold, metrics=note, metrics_summary=note)


def copy_chalice_project(parent: Path) -> Path:
    """``spam_api/`` copied under ``parent``, without build output: deploy writes there."""
    copy = parent / "spam_api"
    shutil.copytree(
        REPO_ROOT / "spam_api",
        copy,
        ignore=shutil.ignore_patterns("deployed", "deployments", "__pycache__", "vendor"),
    )
    return copy


def delete_stacks(endpoint: str) -> None:
    """Delete every CloudFormation stack on the moto server at ``endpoint``.

    Deploy tests share one server and deploy the same stage, so each one starts with no
    stack; protected (prod) stacks are unprotected first. Retained buckets stay.
    """
    import boto3

    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
    for stack in cloudformation.describe_stacks()["Stacks"]:
        name = stack["StackName"]
        cloudformation.update_termination_protection(
            StackName=name, EnableTerminationProtection=False
        )
        cloudformation.delete_stack(StackName=name)


def scored_line(
    version: str,
    probabilities: Sequence[float],
    *,
    threshold: float = 0.5,
    timestamp_ms: int = 1_800_000_000_000,
    latency_ms: float = 5.0,
    stage: str = "local",
    route: str = "/predict",
) -> str:
    """The EMF line of one answer that scored ``probabilities`` (issue 23's contract).

    Its request figures under [Stage, Route] and its model figures under [Stage] and
    [Stage, ModelVersion], built with the contract's own ``emf_line``.
    """
    from chalicelib import metrics_format as mf

    spam = [int(p >= threshold) for p in probabilities]
    uncertain = [
        int(mf.is_uncertain(p, threshold, mf.DEFAULT_UNCERTAINTY_BAND)) for p in probabilities
    ]
    request = {mf.REQUESTS: 1, mf.LATENCY: latency_ms, mf.STATUS_4XX: 0, mf.STATUS_5XX: 0}
    model = {
        mf.MESSAGES_SCORED: len(probabilities),
        mf.SPAM_VERDICTS: spam,
        mf.SPAM_PROBABILITY: list(probabilities),
        mf.UNCERTAIN_MESSAGES: uncertain,
        mf.TEXT_LENGTH: [40] * len(probabilities),
    }
    return mf.emf_line(
        namespace=mf.DEFAULT_NAMESPACE,
        timestamp_ms=timestamp_ms,
        dimensions={"Stage": stage, "Route": route, "ModelVersion": version},
        directives=[(mf.REQUEST_DIMENSIONS, request), (mf.MODEL_DIMENSIONS, model)],
    )


def answer_line(
    route: str,
    status: int,
    *,
    latency_ms: float = 1.0,
    timestamp_ms: int = 1_800_000_000_000,
    stage: str = "local",
    namespace: str = "SpamClassifier",
) -> str:
    """The EMF line of an answer that scored nothing (an error, a health check)."""
    from chalicelib import metrics_format as mf

    request = {
        mf.REQUESTS: 1,
        mf.LATENCY: latency_ms,
        mf.STATUS_4XX: int(400 <= status < 500),
        mf.STATUS_5XX: int(status >= 500),
    }
    return mf.emf_line(
        namespace=namespace,
        timestamp_ms=timestamp_ms,
        dimensions={"Stage": stage, "Route": route},
        directives=[(mf.REQUEST_DIMENSIONS, request)],
    )


def feedback_line(
    version: str, label: str, *, timestamp_ms: int = 1_800_000_000_000, stage: str = "local"
) -> str:
    """The EMF line of a ``POST /feedback`` answer that took a report labelled ``label``."""
    from chalicelib import metrics_format as mf

    metric = mf.FEEDBACK_SPAM if label == "spam" else mf.FEEDBACK_HAM
    request = {mf.REQUESTS: 1, mf.LATENCY: 2.0, mf.STATUS_4XX: 0, mf.STATUS_5XX: 0}
    return mf.emf_line(
        namespace=mf.DEFAULT_NAMESPACE,
        timestamp_ms=timestamp_ms,
        dimensions={"Stage": stage, "Route": "/feedback", "ModelVersion": version},
        directives=[(mf.REQUEST_DIMENSIONS, request), (mf.MODEL_DIMENSIONS, {metric: 1})],
    )

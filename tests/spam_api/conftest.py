"""Fixtures for the API tests, on top of tests/conftest.py (moto server, per-test bucket).

Stack: a model fitted once per session on the SMS collection -> published with the
trainer's own writer into the test's bucket -> a runtime (settings, moto S3 client,
fake clock) installed as the app's -> ``chalice.test.Client`` on the real app.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import pytest
import sklearn
from chalice.test import Client
from chalicelib.registry_format import Manifest
from chalicelib.runtime import Runtime, build_runtime, install_runtime, reset_runtime
from chalicelib.s3_client import make_s3_client
from chalicelib.settings import Settings
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from stack.local.services import free_port
from tests.support import FakeClock
from trainer.registry import ModelBundle, publish

API_DIR = Path(__file__).resolve().parents[2] / "spam_api"
PREFIX = "models/"


@dataclass(frozen=True)
class Fitted:
    """A fitted vectorizer and classifier, and the texts they were fitted on."""

    vectorizer: Any
    classifier: Any
    texts: list[str]
    labels: list[str]


def read_sms(path: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) >= 2:
                labels.append(row[0].strip())
                texts.append("\t".join(row[1:]))
    return texts, labels


@pytest.fixture(scope="session")
def fitted(sms_collection_path: Path) -> Fitted:
    """TF-IDF + logistic regression on the SMS collection (labels 'spam' / 'ham')."""
    texts, labels = read_sms(sms_collection_path)
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2))
    matrix = vectorizer.fit_transform(texts)
    classifier = LogisticRegression(C=10.0, solver="liblinear").fit(matrix, labels)
    return Fitted(vectorizer, classifier, texts, labels)


def dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def make_bundle(vectorizer: Any, classifier: Any, **overrides: Any) -> ModelBundle:
    """A trainer bundle for a fitted pair; override any field (threshold, labels, ...)."""
    bundle = ModelBundle(
        vectorizer_pkl=dumps(vectorizer),
        model_pkl=dumps(classifier),
        metrics={"f1": 0.93, "precision": 0.97, "recall": 0.9},
        threshold=0.5,
        labels={"spam": "spam", "ham": "ham"},
        sklearn_version=sklearn.__version__,
        metrics_summary={"f1": 0.93, "precision": 0.97, "recall": 0.9},
    )
    return replace(bundle, **overrides)


@pytest.fixture(scope="session")
def bundle(fitted: Fitted) -> ModelBundle:
    return make_bundle(fitted.vectorizer, fitted.classifier)


@pytest.fixture
def published(s3_client, bucket: str, bundle: ModelBundle) -> Manifest:
    """The session model, published as the live version of the test's bucket."""
    return publish(s3_client, bucket, PREFIX, bundle)


@pytest.fixture
def make_runtime(s3_client, bucket: str, clock: FakeClock) -> Iterator[Callable[..., Runtime]]:
    """Build a runtime on the test's bucket, install it as the app's; reset afterwards."""

    def make(*, s3: Any = None, capture_s3: Any = None, **settings: Any) -> Runtime:
        values = {"model_bucket": bucket, "model_prefix": PREFIX, **settings}
        runtime = build_runtime(
            Settings(**values), s3=s3 or s3_client, capture_s3=capture_s3, clock=clock
        )
        install_runtime(runtime)
        return runtime

    yield make
    reset_runtime()


@pytest.fixture(scope="session")
def chalice_app():
    from app import app

    return app


@pytest.fixture
def api_client(chalice_app, make_runtime, published: Manifest) -> Iterator[Client]:
    """A test client on the real app, serving the published model from moto."""
    make_runtime()
    with Client(chalice_app, stage_name="local", project_dir=str(API_DIR)) as client:
        yield client


@pytest.fixture
def bare_client(chalice_app) -> Iterator[Client]:
    """A test client without a runtime installed (install one with ``make_runtime``)."""
    with Client(chalice_app, stage_name="local", project_dir=str(API_DIR)) as client:
        yield client


JSON = {"Content-Type": "application/json"}


def post(client: Client, path: str, body: Any, headers: dict[str, str] | None = None):
    """POST ``body``: bytes as they are, anything else encoded as JSON."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    return client.http.post(path, headers={**JSON, **(headers or {})}, body=raw)


def body_of(response) -> dict[str, Any]:
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    return json.loads(response.body)


@pytest.fixture(scope="session")
def legacy_pair(fitted: Fitted) -> tuple[bytes, bytes]:
    """The tutorial's pickles: (vectorizer.pkl, spam_model.pkl) with 1 = ham, 0 = spam."""
    numeric = [0 if label == "spam" else 1 for label in fitted.labels]
    matrix = fitted.vectorizer.transform(fitted.texts)
    classifier = LogisticRegression(C=10.0, solver="liblinear").fit(matrix, numeric)
    return dumps(fitted.vectorizer), dumps(classifier)


def unreachable_s3() -> tuple[Any, int]:
    """The API's S3 client for a loopback port nothing listens on (S3 down), and the port.

    One attempt with a 0.5 s connect timeout, so every call fails at once.
    """
    port = free_port()
    settings = Settings(
        s3_endpoint_url=f"http://127.0.0.1:{port}",
        s3_connect_timeout_seconds=0.5,
        s3_max_attempts=1,
    )
    return make_s3_client(settings), port


def put_legacy(s3: Any, bucket: str, pair: tuple[bytes, bytes]) -> None:
    """Write the tutorial's bucket-root layout."""
    s3.put_object(Bucket=bucket, Key="vectorizer.pkl", Body=pair[0])
    s3.put_object(Bucket=bucket, Key="spam_model.pkl", Body=pair[1])


def recorded_calls(client: Any) -> list[tuple[str, str, str | None]]:
    """Every S3 call ``client`` makes from now on: operation, key, If-None-Match."""
    calls: list[tuple[str, str, str | None]] = []
    if hasattr(client, "_call"):  # the standard-library client
        original = client._call

        def recorded(method, operation, bucket_name, key, headers, body=b""):
            calls.append((operation, key, headers.get("if-none-match")))
            return original(method, operation, bucket_name, key, headers, body)

        client._call = recorded
    else:

        def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
            calls.append((model.name, params.get("Key"), params.get("IfNoneMatch")))

        client.meta.events.register("provide-client-params.s3.*", hook)
    return calls

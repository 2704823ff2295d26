"""Fixtures for the reliability and security tests (issue 7).

On top of ``tests/conftest.py`` (session moto server, per-test bucket):

- ``models``: a few distinguishable fitted models (different training subsets,
  regularisation, thresholds and label encodings), so each version gives its own
  probabilities and a response can be recomputed with the artifacts it names;
- ``make_client``: installs a runtime on the test's bucket (fake clock, any S3 client)
  and opens ``chalice.test.Client`` on the real app;
- ``TcpProxy``: a loopback TCP proxy thread in front of an S3 endpoint that can be
  closed (S3 down), made slow (delays every chunk), and records each HTTP request line
  the API sends through it;
- ``record_s3_calls``: every S3 operation, bucket and key a boto3 client sends.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
import re
import select
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import pytest
import sklearn
from chalice.test import Client
from chalicelib.runtime import Runtime, build_runtime, install_runtime, reset_runtime
from chalicelib.settings import Settings
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from tests.support import FakeClock
from trainer.registry import ModelBundle, publish

REPO_ROOT = Path(__file__).resolve().parents[2]
API_DIR = REPO_ROOT / "spam_api"
PREFIX = "models/"
JSON_HEADERS = {"Content-Type": "application/json"}
#: Text that must never reach a client: exception text, tracebacks, internals.
LEAKS = ("Traceback", 'File "', "botocore", "json.decoder", "Expecting ", "Error(", "Exception")

SPAM = "WINNER!! You have won a FREE prize. Call 09061701461 now to claim your cash reward"
HAM = "Are we still meeting for lunch tomorrow? I'll be at the usual place around noon"


def read_sms(path: Path) -> tuple[list[str], list[str]]:
    """The SMS collection as (texts, labels 'spam'/'ham')."""
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) >= 2:
                labels.append(row[0].strip())
                texts.append("\t".join(row[1:]))
    return texts, labels


def dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class FittedModel:
    """One fitted model, its bundle (what the trainer publishes) and how to score locally."""

    name: str
    vectorizer: Any
    classifier: Any
    threshold: float
    labels: dict[str, Any]
    bundle: ModelBundle

    def spam_probabilities(self, texts: list[str]) -> list[float]:
        column = list(self.classifier.classes_).index(self.labels["spam"])
        matrix = self.vectorizer.transform(texts)
        return [float(p) for p in self.classifier.predict_proba(matrix)[:, column]]


def make_bundle(vectorizer: Any, classifier: Any, **overrides: Any) -> ModelBundle:
    bundle = ModelBundle(
        vectorizer_pkl=dumps(vectorizer),
        model_pkl=dumps(classifier),
        metrics={"f1": 0.9},
        threshold=0.5,
        labels={"spam": "spam", "ham": "ham"},
        sklearn_version=sklearn.__version__,
        metrics_summary={"f1": 0.9},
    )
    return replace(bundle, **overrides)


#: name, fraction of the collection, seed, C, ngrams, threshold, numeric labels
_SPECS = (
    ("a", 0.5, 1, 1.0, (1, 1), 0.5, False),
    ("b", 0.6, 2, 10.0, (1, 2), 0.35, True),
    ("c", 0.4, 3, 3.0, (1, 1), 0.6, False),
    ("d", 0.7, 4, 30.0, (1, 2), 0.45, True),
    ("e", 0.3, 5, 0.3, (1, 1), 0.25, False),
)


@pytest.fixture(scope="session")
def sms(sms_collection_path: Path) -> tuple[list[str], list[str]]:
    return read_sms(sms_collection_path)


@pytest.fixture(scope="session")
def models(sms: tuple[list[str], list[str]]) -> list[FittedModel]:
    """Five models that answer differently: other data, C, n-grams, threshold, labels."""
    texts, labels = sms
    fitted = []
    for name, fraction, seed, c, ngrams, threshold, numeric in _SPECS:
        rng = random.Random(seed)
        chosen = rng.sample(range(len(texts)), int(len(texts) * fraction))
        x = [texts[i] for i in chosen]
        y: list[Any] = [labels[i] for i in chosen]
        label_map: dict[str, Any] = {"spam": "spam", "ham": "ham"}
        if numeric:
            y = [1 if v == "spam" else 0 for v in y]
            label_map = {"spam": 1, "ham": 0}
        vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=ngrams, min_df=2)
        classifier = LogisticRegression(C=c, max_iter=1000).fit(vectorizer.fit_transform(x), y)
        bundle = make_bundle(vectorizer, classifier, threshold=threshold, labels=label_map)
        fitted.append(FittedModel(name, vectorizer, classifier, threshold, label_map, bundle))
    return fitted


@pytest.fixture
def publish_model(s3_client, bucket: str) -> Callable[..., Any]:
    """Publish a ``FittedModel`` (or a bundle) with the trainer's writer; returns the manifest."""

    def do(model: FittedModel | ModelBundle, *, prefix: str = PREFIX, s3: Any = None):
        bundle = model.bundle if isinstance(model, FittedModel) else model
        return publish(s3 or s3_client, bucket, prefix, bundle)

    return do


@pytest.fixture(scope="session")
def chalice_app():
    from app import app

    return app


@pytest.fixture
def make_client(
    chalice_app, s3_client, bucket: str, clock: FakeClock
) -> Iterator[Callable[..., tuple[Runtime, Client]]]:
    """``make_client(s3=..., clock=..., **settings)`` -> (runtime, test client).

    Installs a runtime on the test's bucket as the app's (no S3 call yet) and opens a
    ``chalice.test.Client``; everything is undone after the test.
    """
    stack = contextlib.ExitStack()

    def make(*, s3: Any = None, clock_: Callable[[], float] | None = None, **settings: Any):
        values = {"model_bucket": bucket, "model_prefix": PREFIX, **settings}
        runtime = build_runtime(
            Settings(**values), s3=s3 if s3 is not None else s3_client, clock=clock_ or clock
        )
        install_runtime(runtime)
        client = stack.enter_context(
            Client(chalice_app, stage_name="local", project_dir=str(API_DIR))
        )
        return runtime, client

    try:
        yield make
    finally:
        stack.close()
        reset_runtime()


def post(client: Client, path: str, body: Any, headers: dict[str, str] | None = None):
    """POST ``body``: bytes as they are, anything else as JSON."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    return client.http.post(path, headers={**JSON_HEADERS, **(headers or {})}, body=raw)


def header(headers: Any, name: str) -> str | None:
    """A header by name, case-insensitively (test client and requests alike)."""
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return value
    return None


def _not_json(constant: str) -> Any:
    raise AssertionError(f"the response has {constant}, which is not JSON")


def check_envelope(status: int, headers: Any, raw: bytes | str) -> dict[str, Any]:
    """Every response: JSON, CORS, a request id, no exception text; returns the body."""
    assert header(headers, "Access-Control-Allow-Origin"), headers
    assert header(headers, "X-Request-Id"), headers
    assert (header(headers, "Content-Type") or "").startswith("application/json"), headers
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    body = json.loads(text, parse_constant=_not_json)  # NaN/Infinity are not JSON
    assert isinstance(body, dict), text
    if status >= 400:
        assert body.get("status") in {"error", "unavailable"}, body
        message = body.get("Message", "")
        assert isinstance(message, str) and message, body
        for leak in LEAKS:
            assert leak not in message, (leak, body)
    return body


# -- S3 access recording ------------------------------------------------------------------


@dataclass(frozen=True)
class S3Call:
    operation: str
    bucket: str | None
    key: str | None


def record_s3_calls(s3: Any) -> list[S3Call]:
    """Record every operation this boto3 client sends, with its bucket and key."""
    calls: list[S3Call] = []

    def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append(S3Call(model.name, params.get("Bucket"), params.get("Key")))

    s3.meta.events.register("provide-client-params.s3.*", hook)
    return calls


# -- a TCP proxy that can be down, slow, or record --------------------------------------

_REQUEST_LINE = re.compile(rb"(GET|HEAD|PUT|POST|DELETE|PATCH|OPTIONS) (\S+) HTTP/1\.[01]\r\n")


class TcpProxy:
    """A loopback TCP proxy thread in front of ``upstream`` (an http://host:port URL).

    ``start()`` listens (S3 up), ``stop()`` closes the listener and every connection
    (S3 down: connections are refused), ``delay`` seconds are slept before forwarding
    each chunk in either direction (S3 slow), and after ``stall_after`` bytes sent by
    clients it forwards nothing more (an upload stuck half-way; ``stalled`` is set),
    and a connection is cut after ``cut_after`` bytes from the server (a dropped download).
    ``request_lines`` holds every HTTP request line clients sent through it, as
    (method, path).
    """

    def __init__(self, upstream: str, port: int) -> None:
        host, _, upstream_port = upstream.split("//", 1)[1].partition(":")
        self.upstream = (host, int(upstream_port.rstrip("/")))
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.delay = 0.0
        self.request_lines: list[tuple[str, str]] = []
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        #: client-to-server bytes after which the proxy stops forwarding (a stalled upload)
        self.stall_after: int | None = None
        self.stalled = threading.Event()
        self._up_bytes = 0
        #: server-to-client bytes per connection after which it is cut (a dropped download)
        self.cut_after: int | None = None

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._stopped.clear()
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopped.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            thread = threading.Thread(target=self._pump, args=(client, server), daemon=True)
            thread.start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        pending = b""
        down = 0
        try:
            while True:
                readable, _, _ = select.select([client, server], [], [], 1.0)
                if self._listener is None and not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        pending = self._record(pending + data)
                        if self.stall_after is not None:
                            room = max(self.stall_after - self._up_bytes, 0)
                            if len(data) > room:
                                server.sendall(data[:room])
                                self._up_bytes += room
                                self.stalled.set()
                                self._stopped.wait()
                                return
                            self._up_bytes += len(data)
                    if self.delay and self._stopped.wait(self.delay):
                        return
                    if sock is server and self.cut_after is not None:
                        if down + len(data) > self.cut_after:
                            client.sendall(data[: self.cut_after - down])
                            return
                        down += len(data)
                    (server if sock is client else client).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()

    def _record(self, data: bytes) -> bytes:
        end = 0
        for match in _REQUEST_LINE.finditer(data):
            self.request_lines.append((match.group(1).decode(), match.group(2).decode()))
            end = match.end()
        return data[end:][-512:]  # a request line split across chunks is found next time

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

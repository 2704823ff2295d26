"""Oversized requests are refused before anything is parsed or vectorised.

A spy replaces the live vectorizer's ``transform`` (and, for the byte limit, the JSON
parser) and counts calls; an oversized request must answer 413 without one, fast.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from .conftest import HAM, check_envelope, post

pytestmark = pytest.mark.integration


@pytest.fixture
def served(make_client, models, publish_model, monkeypatch):
    """(runtime, client, calls): the default limits, and a spy on ``transform``."""
    publish_model(models[0])
    runtime, client = make_client()
    model = runtime.holder.load()
    calls: list[int] = []
    real = type(model.vectorizer).transform

    def spy(self, raw_documents, *args, **kwargs):
        calls.append(len(raw_documents))
        return real(self, raw_documents, *args, **kwargs)

    monkeypatch.setattr(type(model.vectorizer), "transform", spy)
    return runtime, client, calls


def _refused(response, code: str = "PayloadTooLargeError") -> dict:
    body = check_envelope(response.status_code, response.headers, response.body)
    assert response.status_code == 413, body
    assert body["Code"] == code
    return body


def test_a_text_at_the_limit_is_scored_and_one_over_is_not_vectorised(served) -> None:
    runtime, client, calls = served
    limit = runtime.settings.max_text_chars
    response = post(client, "/predict", {"text": "a" * limit})
    assert response.status_code == 200 and calls == [1]  # positive control: the spy works
    calls.clear()
    for path, body in (
        ("/predict", {"text": "a" * (limit + 1)}),
        ("/predict/batch", {"texts": [HAM, "b" * (limit + 1)]}),
        ("/predict/batch", {"texts": [HAM] * (runtime.settings.max_batch_size + 1)}),
    ):
        message = _refused(post(client, path, body))["Message"]
        assert "limit" in message
    assert calls == []  # not even the valid texts of a refused batch were vectorised


def test_a_body_over_the_byte_limit_is_not_even_parsed(served, monkeypatch) -> None:
    runtime, client, calls = served
    parsed: list[int] = []
    real_loads = json.loads

    def loads(data, *args, **kwargs):
        parsed.append(len(data))
        return real_loads(data, *args, **kwargs)

    monkeypatch.setattr("chalicelib.validation.json", SimpleNamespace(loads=loads))
    limit = runtime.settings.max_body_bytes
    body = b'{"text": "' + b"x" * (limit - 11) + b'"}'
    assert len(body) == limit + 1
    message = _refused(post(client, "/predict", body))["Message"]
    assert message.endswith(f"the limit is {limit}"), message  # the client is told the limit
    assert parsed == [] and calls == []


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_a_six_megabyte_body_is_answered_413_without_scoring(served, path) -> None:
    _, client, calls = served
    six_mb = 6 * 1024 * 1024
    texts = ["spam " * 2000] * (six_mb // 10_000)
    body = json.dumps({"text": "x" * six_mb} if path == "/predict" else {"texts": texts})
    _refused(post(client, path, body.encode()))
    assert calls == []


def test_the_largest_accepted_request_is_scored_in_one_call(served) -> None:
    """The worst a client can make one request cost: a full batch just under the byte limit."""
    runtime, client, calls = served
    s = runtime.settings
    per_text = min(s.max_text_chars, s.max_body_bytes // s.max_batch_size - 8)
    words = ("free prize call now win cash claim " * (per_text // 30 + 1))[:per_text]
    body = json.dumps({"texts": [words] * s.max_batch_size}).encode()
    assert len(body) <= s.max_body_bytes
    response = post(client, "/predict/batch", body)
    assert response.status_code == 200
    assert calls == [s.max_batch_size]  # one vectorised call for the whole batch

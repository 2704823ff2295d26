"""The rebuilt tutorial handler answers in the tutorial's shape, with 1 = ham."""

from __future__ import annotations

import json

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bench import tutorial_handler
from bench.events import proxy_event
from vendor_build.lambda_events import response_json
from vendor_build.lambda_sandbox import LambdaContext

HAM = ["see you at lunch tomorrow", "call me when you get home", "thanks for the notes"]
SPAM = ["win a free prize now", "claim your free cash prize", "free entry win cash now"]


@pytest.fixture(scope="module")
def handler():
    vectorizer = TfidfVectorizer(min_df=1, stop_words="english", lowercase=True)
    features = vectorizer.fit_transform(HAM + SPAM)
    model = LogisticRegression().fit(features, [1] * len(HAM) + [0] * len(SPAM))
    return tutorial_handler.make_handler(vectorizer, model)


def test_response_shape_matches_the_tutorial(handler) -> None:
    response = handler(proxy_event("POST", "/predict", {"text": "free cash prize"}), None)
    assert response["statusCode"] == 200
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert isinstance(response["body"], str)
    body = json.loads(response["body"])
    assert body == {
        "status": "success",
        "classification": "SPAM",
        "input_text": "free cash prize",
    }


def test_class_one_is_ham(handler) -> None:
    event = proxy_event("POST", "/predict", {"text": "see you at lunch"})
    assert response_json(handler(event, LambdaContext()))["classification"] == "HAM"


def test_bad_body_raises_like_the_tutorial(handler) -> None:
    # The tutorial had no validation: a missing field is an unhandled error (a 502).
    with pytest.raises(KeyError):
        handler(proxy_event("POST", "/predict", {"message": "x"}), None)


def test_lambda_handler_needs_a_loaded_model(monkeypatch) -> None:
    monkeypatch.setattr(tutorial_handler, "_handler", None)
    with pytest.raises(RuntimeError, match="load_from_s3"):
        tutorial_handler.lambda_handler(proxy_event("POST", "/predict", {"text": "x"}), None)

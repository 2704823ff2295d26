"""The trainer's own model (FeatureUnion of word and char TF-IDF, labels 1/0) served end to end."""

from __future__ import annotations

import re

import pytest

from trainer.registry import publish

from .conftest import PREFIX, body_of, post

SPAM = "URGENT! Your mobile number has won a £2000 prize. Call 09061701461 to claim now"
HAM = "Sorry I'm late, the bus broke down. See you at the cinema in ten minutes"


@pytest.fixture(scope="session")
def trainer_bundle(fitted):
    from tests.support import default_bundle

    return default_bundle(fitted.texts, fitted.labels)


def test_trainer_model_predicts_and_explains_word_tokens(
    bare_client, make_runtime, s3_client, bucket, trainer_bundle
) -> None:
    manifest = publish(s3_client, bucket, PREFIX, trainer_bundle)
    assert manifest.labels == {"spam": 1, "ham": 0}
    make_runtime()
    spam = body_of(post(bare_client, "/predict", {"text": SPAM, "explain": True}))
    ham = body_of(post(bare_client, "/predict", {"text": HAM, "explain": True}))
    assert (spam["classification"], ham["classification"]) == ("SPAM", "HAM")
    assert spam["model_version"] == manifest.version
    tokens = set(re.findall(r"\b\w+\b", SPAM.lower()))
    words = [item["word"] for item in spam["explanation"]]
    assert words and set(words) <= tokens  # word features only, never 'char__' n-grams
    assert all(item["weight"] > 0 for item in spam["explanation"])
    assert all(item["weight"] < 0 for item in ham["explanation"])
    info = body_of(bare_client.http.get("/model"))
    assert info["model"]["explainable"] is True

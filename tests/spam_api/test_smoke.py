from __future__ import annotations

from .conftest import body_of, post


def test_predict_spam_and_ham(api_client, published):
    spam = body_of(
        post(
            api_client, "/predict", {"text": "WINNER!! Claim your FREE prize now, call 09061701461"}
        )
    )
    ham = body_of(
        post(api_client, "/predict", {"text": "Are we still meeting for lunch tomorrow?"})
    )
    assert spam["classification"] == "SPAM", spam
    assert ham["classification"] == "HAM", ham
    assert spam["model_version"] == published.version

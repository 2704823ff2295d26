"""Every route and every error, in process through ``chalice.test.Client`` against moto."""

from __future__ import annotations

import json
import logging

import pytest

from .conftest import body_of, post

SPAM = "WINNER!! You have won a FREE prize. Call 09061701461 now to claim your cash reward"
HAM = "Are we still meeting for lunch tomorrow? I'll be at the usual place around noon"
CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Headers")


def assert_cors(response) -> None:
    for name in CORS_HEADERS:
        assert name in response.headers, (name, response.headers)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers.get("X-Request-Id")


def assert_error(response, status: int, code: str, *words: str) -> dict:
    assert response.status_code == status, (response.status_code, response.body)
    assert_cors(response)
    body = body_of(response)
    assert body["status"] == "error"
    assert body["Code"] == code
    for word in words:
        assert word in body["Message"], body
    text = json.dumps(body)
    for leak in ("Traceback", 'File "', "Error(", "botocore", "json.decoder", "Expecting"):
        assert leak not in text, body
    return body


# -- success -------------------------------------------------------------------------------


def test_predict_classifies_spam_and_ham_with_the_bare_models_probability(
    api_client, published, fitted
) -> None:
    spam = post(api_client, "/predict", {"text": SPAM})
    ham = post(api_client, "/predict", {"text": HAM})
    assert spam.status_code == ham.status_code == 200
    assert_cors(spam)
    spam_column = list(fitted.classifier.classes_).index("spam")
    bare = fitted.classifier.predict_proba(fitted.vectorizer.transform([SPAM, HAM]))[:, spam_column]
    assert body_of(spam) == {
        "status": "success",
        "classification": "SPAM",
        "spam_probability": pytest.approx(bare[0], abs=1e-12),
        "threshold": 0.5,
        "model_version": published.version,
        "input_text": SPAM,
    }
    assert bare[0] >= 0.5 > bare[1]  # the texts are worth asking about
    assert body_of(ham)["classification"] == "HAM"
    assert body_of(ham)["spam_probability"] == pytest.approx(bare[1], abs=1e-12)


def test_explain_returns_the_words_that_pushed_the_verdict(api_client) -> None:
    spam = body_of(post(api_client, "/predict", {"text": SPAM, "explain": True}))
    words = spam["explanation"]
    assert 0 < len(words) <= 10
    assert all(set(item) == {"word", "weight"} for item in words)
    assert all(item["weight"] > 0 for item in words)  # toward spam, the verdict
    weights = [abs(item["weight"]) for item in words]
    assert weights == sorted(weights, reverse=True)
    lowered = SPAM.lower()
    assert all(item["word"] in lowered for item in words)
    assert {"free", "prize"} & {item["word"] for item in words}

    ham = body_of(post(api_client, "/predict", {"text": HAM, "explain": True}))
    assert ham["explanation"] and all(item["weight"] < 0 for item in ham["explanation"])


def test_no_explanation_unless_asked(api_client) -> None:
    assert "explanation" not in body_of(post(api_client, "/predict", {"text": SPAM}))
    body = body_of(post(api_client, "/predict", {"text": SPAM, "explain": False}))
    assert "explanation" not in body


def test_batch_keeps_order_and_matches_single_predictions(api_client, published) -> None:
    texts = [SPAM, HAM, "URGENT! call now to claim", "ok see you soon"]
    response = post(api_client, "/predict/batch", {"texts": texts})
    assert response.status_code == 200
    assert_cors(response)
    body = body_of(response)
    assert body["status"] == "success"
    assert body["model_version"] == published.version
    assert body["count"] == len(texts)
    assert [r["index"] for r in body["results"]] == list(range(len(texts)))
    for text, result in zip(texts, body["results"], strict=True):
        single = body_of(post(api_client, "/predict", {"text": text}))
        assert result["classification"] == single["classification"]
        assert result["spam_probability"] == pytest.approx(single["spam_probability"], abs=1e-12)


def test_batch_is_one_vectorised_call(api_client, make_runtime, monkeypatch) -> None:
    runtime = make_runtime()
    model = runtime.holder.load()
    calls = []
    original = type(model.vectorizer).transform

    def counting(self, raw, *args, **kwargs):
        calls.append(len(raw))
        return original(self, raw, *args, **kwargs)

    monkeypatch.setattr(type(model.vectorizer), "transform", counting)
    body = body_of(post(api_client, "/predict/batch", {"texts": [SPAM, HAM, SPAM]}))
    assert body["count"] == 3
    assert calls == [3]


def test_batch_explain(api_client) -> None:
    body = body_of(post(api_client, "/predict/batch", {"texts": [SPAM, HAM], "explain": True}))
    spam, ham = body["results"]
    assert spam["explanation"][0]["weight"] > 0
    assert ham["explanation"][0]["weight"] < 0


def get_ok(client, path: str, published) -> dict:
    """``GET path``: 200 with CORS, status ok and the published version live; the body."""
    response = client.http.get(path)
    assert response.status_code == 200
    assert_cors(response)
    body = body_of(response)
    assert body["status"] == "ok"
    assert body["model_version"] == published.version
    return body


def test_health_reports_the_live_version(api_client, published) -> None:
    body = get_ok(api_client, "/health", published)
    assert body["ready"] is True
    assert body["loaded_at"].endswith("Z")
    assert "reason" not in body


def test_model_describes_what_is_loaded(api_client, published) -> None:
    body = get_ok(api_client, "/model", published)
    model = body["model"]
    assert model["version"] == published.version
    assert model["created_at"] == published.created_at
    assert model["sklearn_version"] == published.sklearn_version
    assert model["threshold"] == 0.5
    assert model["labels"] == {"spam": "spam", "ham": "ham"}
    assert model["metrics"] == {"f1": 0.93, "precision": 0.97, "recall": 0.9}
    assert model["source"] == "registry"
    assert model["explainable"] is True
    assert body["loaded_at"] and body["last_checked_at"] and body["next_check_at"]
    assert body["failure"] is None
    assert body["refresh_seconds"] == 30


def test_text_is_echoed_exactly_including_unusual_unicode(api_client) -> None:
    text = "Free\u200b entry \u202eRTL\u202c 🎉 caf\u00e9 \x00 nul"
    body = body_of(post(api_client, "/predict", {"text": text}))
    assert body["input_text"] == text


def test_charset_in_content_type_is_fine(api_client) -> None:
    response = post(
        api_client,
        "/predict",
        {"text": HAM},
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_unknown_fields_are_ignored(api_client) -> None:
    assert post(api_client, "/predict", {"text": HAM, "lang": "en"}).status_code == 200


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{not json", ("not valid JSON", '{"text"')),
        (b"", ("empty",)),
        (b"   ", ("empty",)),
        (b"\xff\xfe\xfa", ("not valid JSON",)),
        (b"[" * 5000 + b"]" * 5000, ("JSON",)),
    ],
    ids=["invalid-json", "empty", "whitespace", "not-utf8", "deep-nesting"],
)
def test_unparseable_bodies_are_400(api_client, raw, words) -> None:
    assert_error(post(api_client, "/predict", raw), 400, "BadRequestError", *words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([{"text": "hi"}], ("JSON object",)),
        ("just a string", ("JSON object",)),
        (42, ("JSON object",)),
        (None, ("JSON object",)),
        ({}, ('no "text" field',)),
        ({"message": "hi"}, ('no "text" field',)),
        ({"text": 42}, ('"text" must be a string', "int")),
        ({"text": None}, ('"text" must be a string', "null")),
        ({"text": ["a"]}, ('"text" must be a string', "list")),
        ({"text": {"a": 1}}, ('"text" must be a string', "object")),
        ({"text": ""}, ('"text" is blank',)),
        ({"text": " \n\t "}, ('"text" is blank',)),
        ({"text": "hi", "explain": "yes"}, ('"explain" must be true or false',)),
    ],
)
def test_invalid_predict_requests_are_400(api_client, body, words) -> None:
    assert_error(post(api_client, "/predict", body), 400, "BadRequestError", *words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"text": "hi"}, ('no "texts" field',)),
        ({"texts": "hi"}, ('"texts" must be a list',)),
        ({"texts": []}, ('"texts" is empty',)),
        ({"texts": ["ok", 3]}, ('"texts[1]" must be a string',)),
        ({"texts": ["ok", "fine", "  "]}, ('"texts[2]" is blank',)),
        ({"texts": ["ok", None]}, ('"texts[1]" must be a string', "null")),
    ],
)
def test_invalid_batch_requests_are_400(api_client, body, words) -> None:
    assert_error(post(api_client, "/predict/batch", body), 400, "BadRequestError", *words)


def test_text_over_the_limit_is_413(api_client) -> None:
    assert_error(
        post(api_client, "/predict", {"text": "a" * 20_001}),
        413,
        "PayloadTooLargeError",
        "20001 characters",
        "20000",
    )
    assert post(api_client, "/predict", {"text": "a " * 10_000}).status_code == 200


def test_batch_over_the_limit_is_413(api_client) -> None:
    assert_error(
        post(api_client, "/predict/batch", {"texts": ["hello"] * 101}),
        413,
        "PayloadTooLargeError",
        "101 items",
        "100",
    )
    assert post(api_client, "/predict/batch", {"texts": ["hello"] * 100}).status_code == 200


def test_batch_item_over_the_limit_is_413(api_client) -> None:
    assert_error(
        post(api_client, "/predict/batch", {"texts": ["ok", "a" * 20_001]}),
        413,
        "PayloadTooLargeError",
        '"texts[1]"',
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415_json_with_cors(api_client, content_type) -> None:
    response = post(api_client, "/predict", {"text": HAM}, headers={"Content-Type": content_type})
    assert_error(response, 415, "UnsupportedMediaType", content_type)


def test_wrong_method_is_405_json_with_cors(api_client) -> None:
    response = api_client.http.request("PUT", "/predict", headers={}, body=b"{}")
    assert_error(response, 405, "MethodNotAllowedError")
    assert api_client.http.request("DELETE", "/health").status_code == 405


def test_unexpected_failure_is_a_bare_500_with_cors_and_no_detail(
    api_client, make_runtime, monkeypatch, caplog
) -> None:
    runtime = make_runtime()
    model = runtime.holder.load()

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(type(model.classifier), "predict_proba", boom)
    response = post(api_client, "/predict", {"text": HAM})
    body = assert_error(response, 500, "InternalServerError")
    assert "secret" not in json.dumps(body)
    rid = response.headers["X-Request-Id"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(getattr(r, "request_id", None) == rid for r in errors)
    assert "secret internal detail" in caplog.text  # the log has it, the client does not


def test_api_gateway_event_request_id_is_used(chalice_app, make_runtime, published) -> None:
    """Invoked the way Lambda does: the response carries API Gateway's request id."""
    make_runtime()
    event = {
        "resource": "/predict",
        "path": "/predict",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "httpMethod": "POST",
            "resourcePath": "/predict",
            "requestId": "apigw-request-1234",
            "identity": {"sourceIp": "198.51.100.7"},
        },
        "body": json.dumps({"text": HAM}),
        "isBase64Encoded": False,
    }
    response = chalice_app(event, None)
    assert response["statusCode"] == 200
    assert response["headers"]["X-Request-Id"] == "apigw-request-1234"
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert json.loads(response["body"])["model_version"] == published.version

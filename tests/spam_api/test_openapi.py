"""The OpenAPI document: valid 3.1, limits from the settings, served with CORS, and in
agreement with the routes Chalice registers and with the README's API tables.

The document's paths are written by hand in ``chalicelib.openapi``, not generated from
the routes, so comparing the two here can fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chalicelib.openapi import build_document
from chalicelib.settings import Settings
from chalicelib.validation import NON_BLANK_PATTERN
from openapi_spec_validator import validate

from .conftest import body_of

README = Path(__file__).resolve().parents[2] / "README.md"
HTTP_METHODS = {"get", "post", "put", "delete", "patch", "head", "options"}


def _operations(document: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


@pytest.mark.parametrize("feedback", [True, False])
def test_the_document_is_valid_openapi_3_1(feedback: bool) -> None:
    document = build_document(Settings(feedback_enabled=feedback))
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert (("POST", "/feedback") in _operations(document)) is feedback
    assert ("/feedback" in document["paths"]) is feedback


def test_limits_come_from_the_settings() -> None:
    settings = Settings(max_text_chars=321, max_batch_size=7, max_body_bytes=4096)
    document = build_document(settings)
    schemas = document["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["text"]["maxLength"] == 321
    assert schemas["FeedbackRequest"]["properties"]["text"]["maxLength"] == 321
    batch = schemas["BatchRequest"]["properties"]["texts"]
    assert batch["maxItems"] == 7 and batch["items"]["maxLength"] == 321
    for method, path in _operations(document):
        operation = document["paths"][path][method.lower()]
        if "requestBody" in operation:
            assert operation["x-max-body-bytes"] == 4096, (method, path)


def test_the_blank_rule_is_pythons_whitespace_written_out() -> None:
    """The document's pattern and the parser agree on every code point."""
    finds = re.compile(NON_BLANK_PATTERN).search
    disagree = [c for c in map(chr, range(0x110000)) if bool(finds(c)) == c.isspace()]
    assert disagree == []
    assert "\\s" not in NON_BLANK_PATTERN and "\\S" not in NON_BLANK_PATTERN


def test_every_503_declares_retry_after_and_every_answer_its_request_id() -> None:
    document = build_document(Settings())
    for method, path in _operations(document):
        responses = document["paths"][path][method.lower()]["responses"]
        for status, response in responses.items():
            headers = response["headers"]
            assert headers["X-Request-Id"]["required"], (method, path, status)
            assert headers["Access-Control-Allow-Origin"]["required"], (method, path, status)
            assert ("Retry-After" in headers) == (status == "503"), (method, path, status)


def test_the_document_names_exactly_the_routes_chalice_registers(chalice_app) -> None:
    registered = {
        (method, path)
        for path, methods in chalice_app.routes.items()
        for method in methods
        if method != "OPTIONS"  # Chalice's own CORS preflight
    }
    assert registered == _operations(build_document(Settings()))


def _readme_routes() -> set[tuple[str, str]]:
    section = README.read_text().split("## The API", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(GET|POST) (/[^`]*)` \|", section, flags=re.MULTILINE))


def _readme_error_statuses() -> set[str]:
    section = README.read_text().split("### Errors", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| (\d{3}) \|", section, flags=re.MULTILINE))


def test_the_readme_lists_the_same_routes_as_the_document() -> None:
    assert _readme_routes() == _operations(build_document(Settings()))


def test_the_readme_error_table_and_the_document_have_the_same_statuses() -> None:
    document = build_document(Settings())
    documented = {
        status
        for method, path in _operations(document)
        for status in document["paths"][path][method.lower()]["responses"]
        if int(status) >= 400
    }
    assert _readme_error_statuses() == documented | {"403"}  # 403: /feedback turned off


def test_openapi_json_is_served_with_cors(api_client) -> None:
    response = api_client.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers.get("X-Request-Id")
    served = body_of(response)
    validate(served)
    limit = served["components"]["schemas"]["PredictRequest"]["properties"]["text"]["maxLength"]
    assert limit == 20_000  # the local stage's MAX_TEXT_CHARS


def test_openapi_json_leaves_out_feedback_when_it_is_off(bare_client, make_runtime) -> None:
    make_runtime(feedback_enabled=False)
    served = body_of(bare_client.http.get("/openapi.json"))
    assert "/feedback" not in served["paths"] and "/predict" in served["paths"]

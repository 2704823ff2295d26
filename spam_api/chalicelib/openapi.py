"""The API's OpenAPI 3.1 document, built from the settings it runs with.

Request limits come from the ``Settings`` object (never copied by hand), patterns and
labels from ``chalicelib.validation`` and ``chalicelib.feedback_format``, error codes from
``chalicelib.errors``; so the document changes when they do. The paths and response
schemas are written here, not derived from the routes: ``tests/spam_api/test_openapi.py``
compares them with the routes Chalice registers and with the README, and schemathesis
checks every answer of a running ``chalice local`` against them.

What JSON Schema cannot say goes in ``x-`` extensions: ``x-max-body-bytes`` (checked on
the raw body before parsing).

>>> doc = build_document(Settings(max_text_chars=500))
>>> doc["openapi"], sorted(doc["paths"])[:2]
('3.1.0', ['/feedback', '/health'])
>>> doc["components"]["schemas"]["PredictRequest"]["properties"]["text"]["maxLength"]
500
"""

from __future__ import annotations

from typing import Any

from chalicelib import errors
from chalicelib.feedback_format import LABELS
from chalicelib.settings import Settings
from chalicelib.validation import NON_BLANK_PATTERN, REFERENCE_PATTERN

__all__ = ["build_document"]

_ID_PATTERN = r"^\d{8}T\d{6}Z-[0-9a-f]{16}$"
_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _text(settings: Settings, description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": settings.max_text_chars,
        "pattern": NON_BLANK_PATTERN,
        "description": f"{description}; not blank; at most {settings.max_text_chars} characters",
    }


def _object(properties: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


_PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
_THRESHOLD = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
_TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}
_MAYBE_TIME = {"anyOf": [_TIME, {"type": "null"}]}
_EXPLANATION = {
    "type": "array",
    "items": _object(
        {"word": {"type": "string"}, "weight": {"type": "number"}}, ["word", "weight"]
    ),
}


def _schemas(settings: Settings) -> dict[str, Any]:
    error_codes = sorted(
        {cls.code for cls in (errors.BadRequest, errors.PayloadTooLarge, errors.FeedbackDisabled)}
        | {"MethodNotAllowedError", "UnsupportedMediaType", "NotConfiguredError"}
        | {"InternalServerError"}
    )
    failure = {
        "anyOf": [
            _object(
                {
                    "kind": {
                        "enum": [
                            "registry_unavailable",
                            "not_found",
                            "integrity",
                            "incompatible",
                            "invalid_manifest",
                            "invalid_model",
                        ]
                    },
                    "message": {"type": "string", "minLength": 1},
                    "version": {"type": ["string", "null"]},
                    "at": _TIME,
                },
                ["kind", "message", "version", "at"],
            ),
            {"type": "null"},
        ]
    }
    unavailable_properties = {
        "status": {"const": "unavailable"},
        "Code": {"const": errors.ServiceUnavailable.code},
        "Message": {"type": "string", "minLength": 1},
    }
    return {
        "Error": _object(
            {
                "status": {"const": "error"},
                "Code": {"enum": error_codes},
                "Message": {"type": "string", "minLength": 1},
            },
            ["status", "Code", "Message"],
            description="Every error but 503: what happened and what to send instead.",
        ),
        "Unavailable": _object(
            unavailable_properties,
            ["status", "Code", "Message"],
            description="503: temporary; retry after the Retry-After header's seconds.",
        ),
        "HealthUnavailable": _object(
            {
                **unavailable_properties,
                "ready": {"const": False},
                "model_version": {"type": "null"},
                "reason": {"type": "string", "minLength": 1},
                "failure": failure,
                "last_checked_at": _MAYBE_TIME,
            },
            ["status", "Code", "Message", "ready", "model_version", "reason", "failure"],
        ),
        "PredictRequest": {
            "type": "object",
            "required": ["text"],
            "properties": {
                "text": _text(settings, "the message to classify"),
                "explain": {"type": "boolean", "description": "also return the words"},
            },
        },
        "Prediction": _object(
            {
                "status": {"const": "success"},
                "classification": {"enum": ["SPAM", "HAM"]},
                "spam_probability": _PROBABILITY,
                "threshold": _THRESHOLD,
                "model_version": {"type": "string", "minLength": 1},
                "input_text": {"type": "string"},
                "explanation": _EXPLANATION,
            },
            [
                "status",
                "classification",
                "spam_probability",
                "threshold",
                "model_version",
                "input_text",
            ],
        ),
        "BatchRequest": {
            "type": "object",
            "required": ["texts"],
            "properties": {
                "texts": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.max_batch_size,
                    "items": _text(settings, "a message to classify"),
                },
                "explain": {"type": "boolean"},
            },
        },
        "BatchPrediction": _object(
            {
                "status": {"const": "success"},
                "model_version": {"type": "string", "minLength": 1},
                "threshold": _THRESHOLD,
                "count": {"type": "integer", "minimum": 1, "maximum": settings.max_batch_size},
                "results": {
                    "type": "array",
                    "items": _object(
                        {
                            "index": {"type": "integer", "minimum": 0},
                            "classification": {"enum": ["SPAM", "HAM"]},
                            "spam_probability": _PROBABILITY,
                            "explanation": _EXPLANATION,
                        },
                        ["index", "classification", "spam_probability"],
                    ),
                },
            },
            ["status", "model_version", "threshold", "count", "results"],
        ),
        "FeedbackRequest": {
            "type": "object",
            "required": ["text", "label"],
            "properties": {
                "text": _text(settings, "the message, as it was classified"),
                "label": {"enum": list(LABELS), "description": "what the message really is"},
                "model_version": {
                    "type": ["string", "null"],
                    "pattern": REFERENCE_PATTERN,
                    "description": "the model_version of the verdict being corrected",
                },
                "request_id": {
                    "type": ["string", "null"],
                    "pattern": REFERENCE_PATTERN,
                    "description": "the X-Request-Id of the verdict being corrected",
                },
            },
        },
        "FeedbackAccepted": _object(
            {
                "status": {"const": "accepted"},
                "id": {"type": "string", "pattern": _ID_PATTERN},
                "retention_days": {"const": settings.feedback_retention_days},
                "message": {"type": "string", "minLength": 1},
            },
            ["status", "id", "retention_days", "message"],
        ),
        "Health": _object(
            {
                "status": {"enum": ["ok", "degraded"]},
                "ready": {"const": True},
                "model_version": {"type": "string", "minLength": 1},
                "loaded_at": _TIME,
                "last_checked_at": _MAYBE_TIME,
                "reason": {"type": "string", "minLength": 1},
                "failure": failure,
                "capture": _object(
                    {
                        "enabled": {
                            "const": settings.capture_enabled,
                            "description": "scored messages may be kept for review",
                        },
                        "retention_days": {"const": settings.capture_retention_days},
                    },
                    ["enabled", "retention_days"],
                ),
            },
            ["status", "ready", "model_version", "loaded_at", "last_checked_at", "capture"],
        ),
        "ModelInfo": _object(
            {
                "status": {"enum": ["ok", "degraded"]},
                "model_version": {"type": "string", "minLength": 1},
                "model": {
                    "type": "object",
                    "required": [
                        "version",
                        "created_at",
                        "sklearn_version",
                        "threshold",
                        "labels",
                        "metrics",
                        "source",
                        "explainable",
                    ],
                    "properties": {
                        "version": {"type": "string"},
                        "created_at": {"type": "string"},
                        "sklearn_version": {"type": "string"},
                        "threshold": _THRESHOLD,
                        "labels": {"type": "object", "required": ["spam", "ham"]},
                        "metrics": {"type": "object"},
                        "source": {"enum": ["registry", "legacy"]},
                        "explainable": {"type": "boolean"},
                    },
                },
                "loaded_at": _TIME,
                "last_checked_at": _MAYBE_TIME,
                "next_check_at": _TIME,
                "refresh_seconds": {"type": "number", "minimum": 0},
                "failure": failure,
                "runtime": _object({"sklearn_version": {"type": "string"}}, ["sklearn_version"]),
            },
            [
                "status",
                "model_version",
                "model",
                "loaded_at",
                "last_checked_at",
                "next_check_at",
                "refresh_seconds",
                "failure",
                "runtime",
            ],
        ),
    }


_COMMON_HEADERS = {
    "X-Request-Id": {
        "required": True,
        "description": "this request's id; the server log names it",
        "schema": {"type": "string", "minLength": 1},
    },
    "Access-Control-Allow-Origin": {
        "required": True,
        "description": "CORS_ALLOW_ORIGIN",
        "schema": {"type": "string", "minLength": 1},
    },
}
_RETRY_AFTER = {
    "required": True,
    "description": "seconds to wait before retrying",
    "schema": {"type": "string", "pattern": r"^[1-9]\d*$"},
}


def _response(description: str, schema: str, *, retry: bool = False) -> dict[str, Any]:
    headers = dict(_COMMON_HEADERS)
    if retry:
        headers["Retry-After"] = _RETRY_AFTER
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": _ref(schema)}},
    }


_ERRORS_ANY_ROUTE = {
    "405": _response("this route does not take that method (Chalice's answer)", "Error"),
    "500": _response(
        "NotConfiguredError: the deployment lacks a setting (retrying cannot help); "
        "InternalServerError: a fault, logged",
        "Error",
    ),
}


def _post(
    summary: str, request: str, ok_status: str, ok: str, *, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(request)}},
            },
            "responses": {
                ok_status: _response("success", ok),
                "400": _response("malformed request; the message says what to send", "Error"),
                "413": _response("body, text or batch over its limit", "Error"),
                "415": _response("a content type other than application/json", "Error"),
                "503": _response(
                    "not available yet; retry after Retry-After", "Unavailable", retry=True
                ),
                **_ERRORS_ANY_ROUTE,
                **(extra or {}),
            },
        }
    }


def _get(summary: str, ok: str, unavailable: str | None = None) -> dict[str, Any]:
    responses = {"200": _response("success", ok), **_ERRORS_ANY_ROUTE}
    if unavailable:
        responses["503"] = _response("no model is loaded yet", unavailable, retry=True)
    return {"get": {"summary": summary, "responses": responses}}


def build_document(settings: Settings) -> dict[str, Any]:
    """The document for ``settings``; ``/feedback`` only when it is turned on."""
    paths: dict[str, Any] = {
        "/predict": _post("Classify one message", "PredictRequest", "200", "Prediction"),
        "/predict/batch": _post(
            f"Classify up to {settings.max_batch_size} messages in one call",
            "BatchRequest",
            "200",
            "BatchPrediction",
        ),
        "/health": _get("Whether a model serves, and why not", "Health", "HealthUnavailable"),
        "/model": _get("What is loaded and how good it measured", "ModelInfo", "Unavailable"),
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "the OpenAPI document",
                        "headers": dict(_COMMON_HEADERS),
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_ERRORS_ANY_ROUTE,
                },
            }
        },
    }
    if settings.feedback_enabled:
        paths["/feedback"] = _post(
            "Report a wrong verdict: stored for a person to review",
            "FeedbackRequest",
            "202",
            "FeedbackAccepted",
        )
    for item in paths.values():
        for operation in item.values():
            if "requestBody" in operation:
                operation["x-max-body-bytes"] = settings.max_body_bytes
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Spam classifier API",
            "version": "1",
            "description": (
                "Classifies messages as SPAM or HAM with a scikit-learn model served from an "
                "S3 model registry. Every response, errors included, is JSON with CORS "
                "headers and an X-Request-Id. Bodies larger than x-max-body-bytes are "
                "refused with 413 before they are parsed."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": _schemas(settings)},
    }

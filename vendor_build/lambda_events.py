"""API Gateway REST proxy events: what a handler is called with, minus the network.

A Chalice app object is the Lambda handler itself (``app(event, context)``), so feeding
it the event API Gateway would send runs the production code path. The smoke test and
the benchmarks build their events here, and pass ``lambda_sandbox.LambdaContext`` with
them. Here rather than in ``stack``: ``stack`` deploys with ``vendor_build``, so
``vendor_build`` must not import ``stack``. Standard library only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["proxy_event", "response_json"]


def proxy_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    stage: str = "api",
    user_agent: str = "local",
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy integration event for ``method path``.

    ``body`` is JSON-encoded unless it is already a string (API Gateway passes the raw
    body through). Only the headers API Gateway always adds are set; pass the rest.

    >>> e = proxy_event("POST", "/predict", {"text": "hi"})
    >>> e["requestContext"]["resourcePath"], e["httpMethod"], json.loads(e["body"])
    ('/predict', 'POST', {'text': 'hi'})
    """
    all_headers = {
        "Host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "User-Agent": user_agent,
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    raw_body = body if body is None or isinstance(body, str) else json.dumps(body)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": user_agent},
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "protocol": "HTTP/1.1",
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


def response_json(response: Mapping[str, Any]) -> Any:
    """The decoded JSON body of a proxy response (``{"statusCode", "headers", "body"}``)."""
    body = response.get("body")
    return json.loads(body) if body else None

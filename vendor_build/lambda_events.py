"""API Gateway REST proxy events and a Lambda context: calling a handler as Lambda does.

A Chalice app object is the Lambda handler itself (``app(event, context)``), so feeding
it the event API Gateway would send runs the production code path minus the network.
The benchmarks and the Lambda-faithful smoke test both build their events here. Standard
library only: it is imported next to a bare layer in isolated interpreters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LambdaContext", "proxy_event", "response_json"]


@dataclass
class LambdaContext:
    """The attributes of the runtime's context object that handlers commonly read."""

    function_name: str = "spam-api-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/spam-api-local"
    log_stream_name: str = "local"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:spam-api-local"

    def get_remaining_time_in_millis(self) -> int:
        """Plenty: nothing here simulates a timeout."""
        return 30_000


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

"""The benchmark's API Gateway events: JSON requests, as a browser or curl sends them.

Built on ``vendor_build.lambda_events``, which the Lambda smoke test shares; handlers
get ``vendor_build.lambda_sandbox.LambdaContext`` with them.
"""

from __future__ import annotations

from typing import Any

from vendor_build.lambda_events import proxy_event as _proxy_event
from vendor_build.lambda_events import response_json

__all__ = ["check_scored", "proxy_event"]

_JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def proxy_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    stage: str = "api",
) -> dict[str, Any]:
    """A proxy event for a JSON request, as a browser or curl would send it.

    >>> proxy_event("POST", "/predict", {"text": "hi"})["headers"]["Content-Type"]
    'application/json'
    """
    return _proxy_event(
        method,
        path,
        body,
        headers={**_JSON_HEADERS, **(headers or {})},
        stage=stage,
        user_agent="bench",
    )


def check_scored(response: dict[str, Any], what: str = "the app") -> dict[str, Any]:
    """The JSON body of a 200 answer, or ``RuntimeError``: a benchmark of an error path would
    flatter whichever variant took it."""
    body = response_json(response)
    if response.get("statusCode") != 200 or not isinstance(body, dict):
        raise RuntimeError(f"{what} answered {response.get('statusCode')}: {body}")
    return body

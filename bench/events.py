"""The benchmark's API Gateway events: JSON requests, as a browser or curl sends them.

Built on ``vendor_build.lambda_events``, which the Lambda smoke test shares; handlers
get ``vendor_build.lambda_sandbox.LambdaContext`` with them.
"""

from __future__ import annotations

from typing import Any

from vendor_build.lambda_events import proxy_event as _proxy_event

__all__ = ["proxy_event"]

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

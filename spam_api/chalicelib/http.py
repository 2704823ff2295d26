"""HTTP plumbing shared by every route: per-request scope, response envelope, logging.

Chalice keeps ``app.current_request`` on the shared app object, so under the threaded
``chalice local`` two requests can overwrite each other's. The middleware instead puts
the request Chalice hands it (one object per call) in a thread-local; views read the
body through ``raw_body()``. The same scope carries the request id into every log line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from chalicelib.settings import Settings

__all__ = [
    "EXPOSED_HEADERS",
    "RequestIdFilter",
    "configure_logging",
    "cors_headers",
    "finalize",
    "raw_body",
    "request_id",
    "request_scope",
]

#: Response headers a cross-origin page may read.
EXPOSED_HEADERS = ("X-Request-Id", "Retry-After")
_LOG_FORMAT = "%(levelname)s %(name)s [%(request_id)s] %(message)s"
_scope = threading.local()


def _request_id_of(request: Any) -> str:
    context = getattr(request, "context", None) or {}
    found = context.get("requestId") if isinstance(context, dict) else None
    if not found:
        found = getattr(getattr(request, "lambda_context", None), "aws_request_id", None)
    return str(found or uuid.uuid4())


@contextlib.contextmanager
def request_scope(request: Any) -> Iterator[str]:
    """Make ``request`` this thread's current request; yields its request id."""
    rid = _request_id_of(request)
    _scope.request, _scope.request_id = request, rid
    try:
        yield rid
    finally:
        _scope.request, _scope.request_id = None, None


def request_id() -> str:
    """The current request's id, or ``"-"`` outside a request."""
    return getattr(_scope, "request_id", None) or "-"


def raw_body() -> bytes:
    """The current request's body as bytes (``b""`` when there is none)."""
    request = getattr(_scope, "request", None)
    if request is None:
        return b""
    body = request.raw_body
    return body if isinstance(body, bytes) else str(body or "").encode("utf-8", "surrogatepass")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record, so log lines can be matched to requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id()
        return True


def configure_logging(app_log: logging.Logger, level: int) -> None:
    """Log ``app_log`` (Chalice's, named APP_NAME) and chalicelib's children with request ids."""
    app_log.setLevel(level)
    app_log.propagate = False
    if not app_log.handlers:
        app_log.addHandler(logging.StreamHandler(sys.stdout))
    if not any(isinstance(f, RequestIdFilter) for f in app_log.filters):
        app_log.addFilter(RequestIdFilter())  # records logged on the app logger itself
    for handler in app_log.handlers:  # and those its chalicelib children propagate to it
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


def cors_headers(settings: Settings) -> dict[str, str]:
    """Headers every response carries besides what Chalice's CORSConfig adds."""
    headers = {"Access-Control-Allow-Origin": settings.cors_allow_origin}
    if settings.cors_allow_origin != "*":
        headers["Vary"] = "Origin"
    return headers


def finalize(response: Any, *, rid: str, extra_headers: dict[str, str], log: logging.Logger) -> Any:
    """Last touch on every response: CORS (errors too), request id, error envelope, 5xx log."""
    headers = response.headers
    for name, value in extra_headers.items():
        headers.setdefault(name, value)
    headers.setdefault("Access-Control-Expose-Headers", ",".join(EXPOSED_HEADERS))
    headers["X-Request-Id"] = rid
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    status = int(response.status_code)
    body = response.body
    if status >= 400 and isinstance(body, dict) and "Code" in body and "status" not in body:
        response.body = {"status": "error", **body}
    if status >= 500:  # 503 is the expected "no model yet"; anything else is a fault
        code = body.get("Code") if isinstance(body, dict) else None
        level = logging.WARNING if status == 503 else logging.ERROR
        log.log(level, "request %s answered %s (%s)", rid, status, code)
    return response

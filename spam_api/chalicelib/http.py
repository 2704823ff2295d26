"""HTTP plumbing shared by every route: per-request scope, CORS, response envelope, logging.

Chalice keeps ``app.current_request`` on the shared app object, so under the threaded
``chalice local`` two requests can overwrite each other's. The middleware instead puts
the request Chalice hands it (one object per call) in a thread-local; views read the
body through ``raw_body()``. The same scope carries the request id into every log line.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from chalice.app import CORSConfig

from chalicelib.settings import Settings, SettingsError, get_settings

__all__ = [
    "EXPOSED_HEADERS",
    "RequestIdFilter",
    "SettingsCORSConfig",
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


def configure_logging(app_log: logging.Logger) -> None:
    """Log ``app_log`` (Chalice's, named APP_NAME) and chalicelib's children with request ids.

    The level is the settings' ``LOG_LEVEL``, applied by ``chalicelib.runtime`` when the
    settings are read (INFO until then).
    """
    if app_log.level == logging.NOTSET:
        app_log.setLevel(logging.INFO)
    app_log.propagate = False
    if not app_log.handlers:
        app_log.addHandler(logging.StreamHandler(sys.stdout))
    if not any(isinstance(f, RequestIdFilter) for f in app_log.filters):
        app_log.addFilter(RequestIdFilter())  # records logged on the app logger itself
    for handler in app_log.handlers:  # and those its chalicelib children propagate to it
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


class SettingsCORSConfig(CORSConfig):
    """Chalice's CORS config, with the origin and max age read from the settings when used.

    Chalice reads a route's CORS config through ``get_access_control_headers`` when it
    answers (and ``chalice package`` when it writes API Gateway's preflight), not when
    ``app.py`` is imported: so the settings are read then, once the environment (a stage's
    variables, the test client's) is in place. A bad value raises ``SettingsError``.
    The headers are worked out once per settings object, not on every request.
    """

    def __init__(self) -> None:
        super().__init__(expose_headers=list(EXPOSED_HEADERS))
        self._headers_for = functools.lru_cache(maxsize=4)(self._build)

    def get_access_control_headers(self) -> dict[str, str]:
        return self.headers_for(get_settings())

    def headers_for(self, settings: Settings) -> dict[str, str]:
        """Every CORS header for ``settings`` (a copy: callers may add to it)."""
        return dict(self._headers_for(settings))

    def _build(self, settings: Settings) -> dict[str, str]:
        headers = super().get_access_control_headers()
        headers["Access-Control-Allow-Origin"] = settings.cors_allow_origin
        headers["Access-Control-Max-Age"] = str(settings.cors_max_age_seconds)
        return headers


def cors_headers(cors: SettingsCORSConfig) -> dict[str, str]:
    """The CORS headers every response carries, errors included, where Chalice adds none.

    With settings that cannot be read, the defaults ('*'): the only answer then is an
    error that says the API is not configured, and a page should be able to show it.
    """
    try:
        settings = get_settings()
    except SettingsError:
        settings = Settings()
    headers = cors.headers_for(settings)
    if settings.cors_allow_origin != "*":
        headers["Vary"] = "Origin"
    return headers


def finalize(response: Any, *, rid: str, cors: SettingsCORSConfig) -> Any:
    """Last touch on every response: CORS (errors too), request id, content type."""
    headers = response.headers
    for name, value in cors_headers(cors).items():
        headers.setdefault(name, value)
    headers["X-Request-Id"] = rid
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return response

"""The API's errors, and the one place where any exception becomes an HTTP response.

::

    ApiError                  a status, a Code and a message written for the client
     ├── BadRequest           400  the request is malformed; the message says what to send
     ├── FeedbackDisabled     403  this deployment does not take reports (FEEDBACK_ENABLED)
     ├── PayloadTooLarge      413  a body, text or batch over its limit
     ├── NotConfigured        500  the deployment lacks a setting: an operator must fix it,
     │                             so no Retry-After (retrying cannot help)
     └── ServiceUnavailable   503  something the request needs is not there yet;
                                   Retry-After says when to retry

``ApiError`` derives from Chalice's ``ChaliceUnhandledError``, the one error class Chalice
lets through its view wrapper to the middleware, so ``app.py``'s middleware calls
``response_for`` on whatever a view raised.

Exceptions from below the views are translated here without this module knowing the
domains that raise them (it imports none of them, so ``validation`` stays light): a
domain error carries what its response needs. ``chalicelib.unavailable.Unavailable`` is a
503, with the domain's ``client_message`` and ``retry_after``; the model holder's
``ModelUnavailableError`` and the feedback writer's ``FeedbackUnavailableError`` are
such errors. ``SettingsError`` is ``NotConfigured``; anything else an opaque 500. A new
domain with a "try again later" subclasses ``Unavailable``; nothing here changes.
Chalice's own error responses (405, 415) get the same envelope in
``envelope_chalice_error``.

Every error body is ``{"status": "error", "Code": ..., "Message": ...}``, except 503s:
``{"status": "unavailable", ...}`` with the same keys. ``/health`` adds its own fields to
its 503. Messages name no bucket, key, endpoint or exception class: what a person needs
to fix it goes to the log (``log_detail``), under the request id.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from chalice.app import ChaliceUnhandledError, Response

from chalicelib.http import request_id
from chalicelib.settings import APP_NAME, SettingsError
from chalicelib.unavailable import Unavailable

__all__ = [
    "ApiError",
    "BadRequest",
    "FeedbackDisabled",
    "NotConfigured",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "envelope_chalice_error",
    "is_no_model",
    "response_for",
]

_log = logging.getLogger(f"{APP_NAME}.errors")


class ApiError(ChaliceUnhandledError):
    """An error with its HTTP status and a message safe to show to the client.

    ``log_detail`` is what the operator needs (bucket, key, the underlying error); it is
    logged with the request id and never sent.
    """

    status_code: int = 500
    code: str = "InternalServerError"
    status: str = "error"

    def __init__(
        self,
        message: str,
        *,
        log_detail: str | None = None,
        headers: dict[str, str] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.log_detail = log_detail
        self.headers = dict(headers or {})
        self.fields = dict(fields or {})

    def body(self) -> dict[str, Any]:
        """The JSON body: Chalice's ``{Code, Message}`` plus ``status`` and any route fields."""
        return {"status": self.status, "Code": self.code, "Message": self.message, **self.fields}


class BadRequest(ApiError):
    status_code = 400
    code = "BadRequestError"


class FeedbackDisabled(ApiError):
    status_code = 403
    code = "FeedbackDisabledError"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "PayloadTooLargeError"


class NotConfigured(ApiError):
    status_code = 500
    code = "NotConfiguredError"


class ServiceUnavailable(ApiError):
    """503: temporary; ``retry_after`` (whole seconds, at least 1) goes into ``Retry-After``.

    ``no_model``: what is missing is the model (the domain's ``Unavailable.no_model``).
    """

    status_code = 503
    code = "ServiceUnavailableError"
    status = "unavailable"

    def __init__(
        self, message: str, *, retry_after: float, no_model: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = whole_seconds(retry_after)
        self.headers["Retry-After"] = str(self.retry_after)
        self.no_model = no_model


def whole_seconds(retry_after: float) -> int:
    """``Retry-After`` takes whole seconds; never tell a client to retry at once."""
    return max(1, math.ceil(retry_after))


NOT_CONFIGURED_MESSAGE = (
    "the API is not configured: a required setting is missing or invalid. Retrying will "
    "not help; the operator must fix the deployment's settings (the server log says which)"
)


def unavailable(exc: Unavailable, **fields: Any) -> ServiceUnavailable:
    """The 503 for a domain's ``Unavailable``, in its words (plus any route ``fields``)."""
    return ServiceUnavailable(
        exc.client_message(whole_seconds(exc.retry_after)),
        retry_after=exc.retry_after,
        no_model=exc.no_model,
        log_detail=str(exc),
        fields=fields,
    )


def is_no_model(exc: BaseException) -> bool:
    """Whether ``exc`` is answered 503 because no model is loaded (the ``NoModel`` metric)."""
    return isinstance(exc, ServiceUnavailable | Unavailable) and exc.no_model


def as_api_error(exc: BaseException) -> ApiError:
    """Translate an exception from anywhere below the views into an ``ApiError``."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SettingsError):
        return NotConfigured(NOT_CONFIGURED_MESSAGE, log_detail=str(exc))
    if isinstance(exc, Unavailable):
        return unavailable(exc)
    _log.error("unhandled error", exc_info=exc)
    return ApiError("an internal error occurred; the server log has the details")


def response_for(exc: BaseException) -> Response:
    """The HTTP response for any exception a view raised (the one mapping); logs 5xx.

    The log line names the request id, which the client got in ``X-Request-Id``.
    """
    error = as_api_error(exc)
    if error.status_code >= 500:  # a 503 is expected ("no model yet"); a 500 is a fault
        level = logging.WARNING if error.status_code == 503 else logging.ERROR
        detail = error.log_detail or error.message
        _log.log(
            level,
            "request %s answered %s %s: %s",
            request_id(),
            error.status_code,
            error.code,
            detail,
        )
    return Response(body=error.body(), status_code=error.status_code, headers=error.headers)


def envelope_chalice_error(response: Response) -> Response:
    """Give Chalice's own error responses (405, 415, ...) the API's error envelope."""
    body = response.body
    if int(response.status_code) >= 400 and isinstance(body, dict) and "status" not in body:
        response.body = {"status": "error", **body}
    return response

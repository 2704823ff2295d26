"""The spam classifier API: a list of routes over ``chalicelib``.

Each view reads the raw body, calls one ``chalicelib.service`` function and returns the
dict it gives (200; ``/feedback`` wraps it in a 202). Whatever a view raises reaches the
middleware (``route`` passes it through Chalice's own view wrapper, which would answer a
bare 500), which turns it into a response in one place (``chalicelib.errors.response_for``)
and gives every response, errors included, its CORS headers and request id; server errors
are logged there too. The middleware also opens each answer's metrics
(``chalicelib.metrics``), written when the response is ready.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice import Chalice, Response
from chalicelib import errors, http, metrics, service
from chalicelib.runtime import warm_start
from chalicelib.settings import APP_NAME

app = Chalice(app_name=APP_NAME)
http.configure_logging(app.log)  # LOG_LEVEL is applied when the settings are first read
#: Origin and max age come from the settings when Chalice (or `chalice package`) reads them.
CORS = http.SettingsCORSConfig()


def route(path: str, **options: Any) -> Callable[[Callable[[], Any]], Any]:
    """``app.route`` with ``cors=CORS``, letting every exception through to the middleware."""

    def register(view: Callable[[], Any]) -> Any:
        @functools.wraps(view)
        def run() -> Any:
            try:
                return view()
            except errors.ApiError:
                raise
            except Exception as exc:
                raise errors.as_api_error(exc) from exc

        return app.route(path, cors=CORS, **options)(run)

    return register


@app.middleware("http")
def envelope(event: Any, get_response: Callable[[Any], Response]) -> Response:
    with http.request_scope(event) as rid, metrics.answer(event, app.routes) as answer:
        try:
            response = errors.envelope_chalice_error(get_response(event))
        except Exception as exc:  # ApiError, and anything else: one mapping, never a traceback
            response = errors.response_for(exc)
            answer.note_error(exc)
        return answer.done(http.finalize(response, rid=rid, cors=CORS))


@route("/predict", methods=["POST"], content_types=["application/json"])
def predict() -> dict[str, Any]:
    return service.predict(http.raw_body())


@route("/predict/batch", methods=["POST"], content_types=["application/json"])
def predict_batch() -> dict[str, Any]:
    return service.predict_batch(http.raw_body())


@route("/feedback", methods=["POST"], content_types=["application/json"])
def feedback() -> Response:
    return Response(body=service.feedback(http.raw_body()), status_code=202)


@route("/health", methods=["GET"])
def health() -> dict[str, Any]:
    return service.health()


@route("/model", methods=["GET"])
def model() -> dict[str, Any]:
    return service.model_info()


@route("/openapi.json", methods=["GET"])
def openapi() -> dict[str, Any]:
    return service.openapi_document()


warm_start()  # in Lambda: load during the cold start; under the chalice CLI: on first request

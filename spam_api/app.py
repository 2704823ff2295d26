"""The spam classifier API: a list of routes over ``chalicelib``.

Each view reads the raw body, calls one ``chalicelib.service`` function and returns its
dict; ``ApiError`` becomes a JSON error response. The middleware adds CORS headers and
the request id to every response, errors included, and logs server errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Chalice, CORSConfig, Response
from chalicelib import http, service
from chalicelib.runtime import warm_start
from chalicelib.settings import APP_NAME, load_settings
from chalicelib.validation import ApiError

SETTINGS = load_settings()  # also what `chalice package` bakes into the CORS preflight
app = Chalice(app_name=APP_NAME)
http.configure_logging(app.log, SETTINGS.log_level_number)
CORS = CORSConfig(
    allow_origin=SETTINGS.cors_allow_origin,
    max_age=SETTINGS.cors_max_age_seconds,
    expose_headers=list(http.EXPOSED_HEADERS),
)
#: Added by the middleware where Chalice does not (its 405, for one); Vary for one origin.
_EXTRA_HEADERS = {**CORS.get_access_control_headers(), **http.cors_headers(SETTINGS)}


@app.middleware("http")
def envelope(event: Any, get_response: Callable[[Any], Response]) -> Response:
    with http.request_scope(event) as rid:
        response = get_response(event)
        return http.finalize(response, rid=rid, extra_headers=_EXTRA_HEADERS, log=app.log)


def _reply(view: Callable[[], Any]) -> Response:
    try:
        result = view()
    except ApiError as exc:
        return Response(body=exc.body(), status_code=exc.status_code, headers=exc.headers)
    status, body = result if isinstance(result, tuple) else (200, result)
    return Response(body=body, status_code=status)


@app.route("/predict", methods=["POST"], cors=CORS, content_types=["application/json"])
def predict() -> Response:
    return _reply(lambda: service.predict(http.raw_body()))


@app.route("/predict/batch", methods=["POST"], cors=CORS, content_types=["application/json"])
def predict_batch() -> Response:
    return _reply(lambda: service.predict_batch(http.raw_body()))


@app.route("/health", methods=["GET"], cors=CORS)
def health() -> Response:
    return _reply(service.health)


@app.route("/model", methods=["GET"], cors=CORS)
def model() -> Response:
    return _reply(service.model_info)


warm_start()  # in Lambda: load during the cold start; under the chalice CLI: on first request

"""What each route does, as plain functions: raw body in, response dict out, or an ``ApiError``.

``app.py`` calls one of these per route and turns an ``ApiError`` into a JSON response.
Every message here is written for the client; exception text only goes to the log.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from chalicelib.holder import Failure, HolderState, ModelUnavailableError
from chalicelib.model import LiveModel
from chalicelib.runtime import Runtime, get_runtime
from chalicelib.settings import APP_NAME, SettingsError
from chalicelib.validation import Limits, ServiceUnavailable, parse_batch, parse_predict

__all__ = ["health", "model_info", "predict", "predict_batch"]

_log = logging.getLogger(f"{APP_NAME}.service")


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _runtime() -> Runtime:
    try:
        return get_runtime()
    except SettingsError as exc:
        _log.error("the API is not configured: %s", exc)
        raise ServiceUnavailable(f"the API is not configured: {exc}") from None


def _live(runtime: Runtime) -> LiveModel:
    try:
        return runtime.holder.current()
    except ModelUnavailableError as exc:
        raise ServiceUnavailable(
            f"no model is loaded: {exc}. Retry shortly.",
            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
        ) from None


def predict(raw_body: bytes | str | None) -> dict[str, Any]:
    """``POST /predict``: classify one text (optionally explaining the verdict)."""
    runtime = _runtime()
    request = parse_predict(raw_body, Limits.from_settings(runtime.settings))
    model = _live(runtime)
    (scored,) = model.score(
        request.texts, explain=request.explain, top_n=runtime.settings.explain_top_n
    )
    body: dict[str, Any] = {
        "status": "success",
        "classification": "SPAM" if scored.is_spam else "HAM",
        "spam_probability": scored.spam_probability,
        "threshold": model.threshold,
        "model_version": model.version,
        "input_text": request.texts[0],
    }
    if request.explain:
        body["explanation"] = scored.explanation or []
    return body


def predict_batch(raw_body: bytes | str | None) -> dict[str, Any]:
    """``POST /predict/batch``: classify up to ``MAX_BATCH_SIZE`` texts in one model call."""
    runtime = _runtime()
    request = parse_batch(raw_body, Limits.from_settings(runtime.settings))
    model = _live(runtime)
    scores = model.score(
        request.texts, explain=request.explain, top_n=runtime.settings.explain_top_n
    )
    results = []
    for index, scored in enumerate(scores):
        item: dict[str, Any] = {
            "index": index,
            "classification": "SPAM" if scored.is_spam else "HAM",
            "spam_probability": scored.spam_probability,
        }
        if request.explain:
            item["explanation"] = scored.explanation or []
        results.append(item)
    return {
        "status": "success",
        "model_version": model.version,
        "threshold": model.threshold,
        "count": len(results),
        "results": results,
    }


def _failure(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {
        "kind": failure.kind,
        "message": failure.message,
        "version": failure.version,
        "at": _iso(failure.at),
    }


def _unavailable(message: str, state: HolderState | None) -> tuple[int, dict[str, Any]]:
    return 503, {
        "status": "unavailable",
        "ready": False,
        "Code": "ServiceUnavailableError",
        "Message": message,
        "reason": message,
        "model_version": None,
        "failure": _failure(state.failure) if state else None,
        "last_checked_at": _iso(state.checked_at) if state else None,
    }


class _NotServing(Exception):
    """No model can answer; ``response`` is the 503 that ``/health`` and ``/model`` return."""

    def __init__(self, response: tuple[int, dict[str, Any]]) -> None:
        super().__init__(response[1]["Message"])
        self.response = response


def _serving() -> tuple[Runtime, LiveModel, HolderState]:
    """The runtime, its live model and the state it came from, or ``_NotServing``."""
    try:
        runtime = _runtime()
    except ServiceUnavailable as exc:
        raise _NotServing(_unavailable(exc.message, None)) from None
    try:
        runtime.holder.current()
        reason = None
    except ModelUnavailableError as exc:
        reason = str(exc)
    state = runtime.holder.state
    if reason is not None or state.live is None:
        raise _NotServing(_unavailable(f"no model is loaded: {reason}", state))
    return runtime, state.live, state


def health() -> tuple[int, dict[str, Any]]:
    """``GET /health``: 200 when a model serves ('ok', or 'degraded' + reason), else 503."""
    try:
        _, live, state = _serving()
    except _NotServing as exc:
        return exc.response
    body: dict[str, Any] = {
        "status": "degraded" if state.failure else "ok",
        "ready": True,
        "model_version": live.version,
        "loaded_at": _iso(live.loaded_at),
        "last_checked_at": _iso(state.checked_at),
    }
    if state.failure:
        body["reason"] = state.failure.message
        body["failure"] = _failure(state.failure)
    return 200, body


def model_info() -> tuple[int, dict[str, Any]]:
    """``GET /model``: what is loaded, how good it measured, when it was loaded and checked."""
    try:
        runtime, live, state = _serving()
    except _NotServing as exc:
        return exc.response
    summary = live.manifest.summary()
    summary["source"] = "legacy" if live.legacy else "registry"
    summary["explainable"] = live.can_explain
    return 200, {
        "status": "degraded" if state.failure else "ok",
        "model_version": live.version,
        "model": summary,
        "loaded_at": _iso(live.loaded_at),
        "last_checked_at": _iso(state.checked_at),
        "next_check_at": _iso(state.next_check_at),
        "refresh_seconds": runtime.holder.refresh_seconds,
        "failure": _failure(state.failure),
        "runtime": {"sklearn_version": runtime.holder.reader.runtime_sklearn_version},
    }

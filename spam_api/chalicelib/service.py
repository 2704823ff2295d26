"""What each route does, as plain functions: raw body in, response body out, or an exception.

``app.py`` calls one of these per route and returns what it gives (a dict: 200). Errors
are raised, never returned: ``chalicelib.errors`` turns them into responses in one place
(``ModelUnavailableError`` is a 503, ``SettingsError`` a 500). Every message here is
written for the client; details only go to the log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib import errors, metrics
from chalicelib.feedback_format import Verdict
from chalicelib.holder import Failure, HolderState, ModelUnavailableError
from chalicelib.http import request_id
from chalicelib.model import LiveModel, Scored
from chalicelib.openapi import build_document
from chalicelib.runtime import Runtime, get_runtime
from chalicelib.settings import APP_NAME, Settings, get_settings
from chalicelib.validation import parse_batch, parse_feedback, parse_predict

__all__ = ["feedback", "health", "model_info", "openapi_document", "predict", "predict_batch"]

_log = logging.getLogger(f"{APP_NAME}.service")


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def predict(raw_body: bytes | str | None) -> dict[str, Any]:
    """``POST /predict``: classify one text (optionally explaining the verdict)."""
    runtime = get_runtime()
    request = parse_predict(raw_body, runtime.settings)
    model = runtime.holder.current()
    scores = model.score(
        request.texts, explain=request.explain, top_n=runtime.settings.explain_top_n
    )
    metrics.scored(model.version, model.threshold, request.texts, scores)
    _capture(runtime, model, request.texts, scores)
    (scored,) = scores
    body: dict[str, Any] = {
        "status": "success",
        "classification": scored.classification,
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
    runtime = get_runtime()
    request = parse_batch(raw_body, runtime.settings)
    model = runtime.holder.current()
    scores = model.score(
        request.texts, explain=request.explain, top_n=runtime.settings.explain_top_n
    )
    metrics.scored(model.version, model.threshold, request.texts, scores)
    _capture(runtime, model, request.texts, scores)
    results = []
    for index, scored in enumerate(scores):
        item: dict[str, Any] = {
            "index": index,
            "classification": scored.classification,
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


def _capture(
    runtime: Runtime, model: LiveModel, texts: Sequence[str], scores: Sequence[Scored]
) -> None:
    """Keep the scored messages capture draws (when it is on); never fails the answer."""
    if runtime.capture is None:
        return
    try:
        kept = runtime.capture.keep(request_id(), model.version, model.threshold, texts, scores)
    except Exception:  # a fault of ours: logged (no text in it), counted, the answer goes on
        _log.exception("capturing the scored messages failed")
        kept = (0, 1)
    metrics.captured(*kept)


def feedback(raw_body: bytes | str | None) -> dict[str, Any]:
    """``POST /feedback``: store a person's report that a text is spam or ham (202).

    The live model's verdict on the text is recorded with it, for the reviewer. A report
    never waits for a model: with none loaded (or one still loading) it is taken without a
    verdict, and no load is started. Nothing about the sender is kept.
    """
    runtime = get_runtime()
    settings = runtime.settings
    if not settings.feedback_enabled:
        raise errors.FeedbackDisabled(
            "reporting wrong verdicts is turned off on this deployment; nothing was stored"
        )
    request = parse_feedback(raw_body, settings)
    verdict = _verdict(runtime, request.text)
    report = runtime.feedback.store(
        request.text,
        request.label,
        verdict=verdict,
        corrected_version=request.model_version,
        corrected_request_id=request.request_id,
    )
    metrics.reported(request.label, verdict.model_version if verdict else None)
    return {
        "status": "accepted",
        "id": report.id,
        "retention_days": settings.feedback_retention_days,
        "message": (
            f"Thank you: the report was stored for review. A person reviews it before any "
            f"model learns from it; unreviewed reports are deleted after "
            f"{settings.feedback_retention_days} days."
        ),
    }


def _verdict(runtime: Runtime, text: str) -> Verdict | None:
    model = runtime.holder.live_now()
    if model is None:
        return None
    (scored,) = model.score([text])
    return Verdict(
        model_version=model.version,
        classification=scored.classification,
        spam_probability=scored.spam_probability,
    )


def _failure(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {
        "kind": failure.kind,
        "message": failure.message,
        "version": failure.version,
        "at": _iso(failure.at),
    }


def _serving() -> tuple[Runtime, LiveModel, HolderState]:
    """The runtime, its live model and the state it came from (the GET routes' view)."""
    runtime = get_runtime()
    live = runtime.holder.current()
    return runtime, live, runtime.holder.state


def health() -> dict[str, Any]:
    """``GET /health``: 200 when a model serves ('ok', or 'degraded' + reason), else 503.

    Its 503 is the common one plus what a monitor reads: ready, reason, the last failure.
    """
    try:
        runtime, live, state = _serving()
    except ModelUnavailableError as exc:
        failed = get_runtime().holder.state
        raise errors.unavailable(
            exc,
            ready=False,
            model_version=None,
            reason=exc.public_reason,
            failure=_failure(failed.failure),
            last_checked_at=_iso(failed.checked_at),
        ) from None
    body: dict[str, Any] = {
        "status": "degraded" if state.failure else "ok",
        "ready": True,
        "model_version": live.version,
        "loaded_at": _iso(live.loaded_at),
        "last_checked_at": _iso(state.checked_at),
        "capture": _capture_notice(runtime.settings),
    }
    if state.failure:
        body["reason"] = state.failure.message
        body["failure"] = _failure(state.failure)
    return body


def _capture_notice(settings: Settings) -> dict[str, Any]:
    """Whether scored messages may be kept for review, and for how long (the page says so)."""
    return {"enabled": settings.capture_enabled, "retention_days": settings.capture_retention_days}


def model_info() -> dict[str, Any]:
    """``GET /model``: what is loaded, how good it measured, when it was loaded and checked."""
    runtime, live, state = _serving()
    summary = live.manifest.summary()
    summary["source"] = "legacy" if live.legacy else "registry"
    summary["explainable"] = live.can_explain
    return {
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


def openapi_document() -> dict[str, Any]:
    """``GET /openapi.json``: the API's OpenAPI 3.1 document, for the settings it runs with.

    Built on the first request, not at import: it costs the cold start nothing.
    """
    return _document(get_settings())


@functools.lru_cache(maxsize=4)
def _document(settings: Settings) -> dict[str, Any]:
    return build_document(settings)

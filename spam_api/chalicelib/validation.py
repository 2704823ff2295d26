"""Request parsing: bytes in, a validated request out, or a 400/413 ``ApiError``.

The raw body is measured before it is parsed and every text before it is vectorised, so
an oversized request costs a length check, not a model call. Messages say what to send.

>>> limits = Settings(max_text_chars=10, max_batch_size=2, max_body_bytes=1000)
>>> parse_predict(b'{"text": "hello"}', limits)
PredictRequest(texts=('hello',), explain=False)
>>> parse_predict(b'{"text": "  "}', limits)
Traceback (most recent call last):
...
chalicelib.errors.BadRequest: "text" is blank; send {"text": "the message to classify"}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import BadRequest, PayloadTooLarge
from chalicelib.settings import Settings

__all__ = ["FeedbackRequest", "PredictRequest", "parse_batch", "parse_feedback", "parse_predict"]

_PREDICT_HINT = 'send {"text": "the message to classify"}'
_BATCH_HINT = 'send {"texts": ["first message", "second message"]}'
_FEEDBACK_HINT = 'send {"text": "the message", "label": "spam"} (or "ham")'
#: The characters Python's ``str.isspace`` calls white space, written out: ``\s`` means
#: other sets in other regex engines (JSON Schema validators follow ECMA or Rust), so the
#: document and this parser could disagree on what is blank.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: A text is blank unless it has a character this finds; ``chalicelib.openapi`` publishes
#: the same pattern (a class of literal characters every engine reads alike).
NON_BLANK_PATTERN = f"[^{WHITESPACE}]"
#: What a client may say it is correcting: a model version or a request id, as we send them.
REFERENCE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._:-]{0,127}$"
_NON_BLANK = re.compile(NON_BLANK_PATTERN)
_REFERENCE_RE = re.compile(REFERENCE_PATTERN)


@dataclass(frozen=True)
class PredictRequest:
    """Validated texts (one for /predict) and whether to explain."""

    texts: tuple[str, ...]
    explain: bool = False


@dataclass(frozen=True)
class FeedbackRequest:
    """A person's report: ``text`` is ``label``; optionally, the verdict it corrects."""

    text: str
    label: str
    model_version: str | None = None
    request_id: str | None = None


def _parse_object(raw: bytes | str | None, limits: Settings, hint: str) -> dict[str, Any]:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else (raw or b"")
    if len(data) > limits.max_body_bytes:
        raise PayloadTooLarge(
            f"the request body is {len(data)} bytes; the limit is {limits.max_body_bytes}"
        )
    if not data.strip():
        raise BadRequest(f"the request body is empty; {hint}")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadRequest(f"the request body is not valid JSON; {hint}") from None
    if not isinstance(obj, dict):
        raise BadRequest(f"the request body must be a JSON object; {hint}")
    return obj


def _explain_flag(obj: dict[str, Any], hint: str) -> bool:
    explain = obj.get("explain", False)
    if not isinstance(explain, bool):  # null too: the README promises 400 for a non-boolean
        raise BadRequest(f'"explain" must be true or false; {hint}')
    return explain


def _check_text(value: Any, name: str, limits: Settings, hint: str) -> str:
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__.replace("dict", "object")
        raise BadRequest(f'"{name}" must be a string, got {kind}; {hint}')
    if not _NON_BLANK.search(value):
        raise BadRequest(f'"{name}" is blank; {hint}')
    if len(value) > limits.max_text_chars:
        raise PayloadTooLarge(
            f'"{name}" is {len(value)} characters; the limit is {limits.max_text_chars}'
        )
    return value


def parse_predict(raw: bytes | str | None, limits: Settings) -> PredictRequest:
    """Validate a ``/predict`` body: ``{"text": str, "explain": bool?}``."""
    obj = _parse_object(raw, limits, _PREDICT_HINT)
    if "text" not in obj:
        raise BadRequest(f'the request has no "text" field; {_PREDICT_HINT}')
    text = _check_text(obj["text"], "text", limits, _PREDICT_HINT)
    return PredictRequest(texts=(text,), explain=_explain_flag(obj, _PREDICT_HINT))


def parse_batch(raw: bytes | str | None, limits: Settings) -> PredictRequest:
    """Validate a ``/predict/batch`` body: ``{"texts": [str, ...], "explain": bool?}``."""
    obj = _parse_object(raw, limits, _BATCH_HINT)
    if "texts" not in obj:
        raise BadRequest(f'the request has no "texts" field; {_BATCH_HINT}')
    texts = obj["texts"]
    if not isinstance(texts, list):
        raise BadRequest(f'"texts" must be a list of strings; {_BATCH_HINT}')
    if not texts:
        raise BadRequest(f'"texts" is empty; {_BATCH_HINT}')
    if len(texts) > limits.max_batch_size:
        raise PayloadTooLarge(
            f'"texts" has {len(texts)} items; the limit is {limits.max_batch_size} per request'
        )
    checked = tuple(
        _check_text(value, f"texts[{index}]", limits, _BATCH_HINT)
        for index, value in enumerate(texts)
    )
    return PredictRequest(texts=checked, explain=_explain_flag(obj, _BATCH_HINT))


def _reference(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _REFERENCE_RE.match(value):
        raise BadRequest(
            f'"{name}" must be the {name.replace("_", " ")} of the verdict being corrected '
            f"(letters, digits, '.', '_', ':', '-'; at most 128), or left out"
        )
    return value


def parse_feedback(raw: bytes | str | None, limits: Settings) -> FeedbackRequest:
    """Validate a ``/feedback`` body: ``{"text", "label", "model_version"?, "request_id"?}``.

    The text has the same limits as ``/predict``'s: a text too long to classify is too
    long to report, and is refused rather than cut.
    """
    obj = _parse_object(raw, limits, _FEEDBACK_HINT)
    if "text" not in obj:
        raise BadRequest(f'the request has no "text" field; {_FEEDBACK_HINT}')
    text = _check_text(obj["text"], "text", limits, _FEEDBACK_HINT)
    label = obj.get("label")
    if label not in ("spam", "ham"):
        got = "nothing" if label is None else json.dumps(label)[:40]
        raise BadRequest(f'"label" must be "spam" or "ham", got {got}; {_FEEDBACK_HINT}')
    return FeedbackRequest(
        text=text,
        label=label,
        model_version=_reference(obj, "model_version"),
        request_id=_reference(obj, "request_id"),
    )

"""Keeping a fair sample of the scored messages for a person to label (``capture_format``).

For every message ``/predict`` or ``/predict/batch`` scored, ``capture_format.capture_stratum``
decides from the request id and the message's position whether it is kept; a kept message
is written once, as a pending record under ``<CAPTURE_PREFIX>pending/``, with a conditional
create (``If-None-Match: *``), so no record ever replaces another. The API's role may only
create objects there (and only in a stage where capture is on), and never reads them back.

A capture is never worth an answer: each write is one attempt on an S3 client of its own
whose connect and read timeouts add up to ``TIMEOUT_SECONDS`` (``client_settings``), and
once a write of a request has failed, that request's other captures are not tried (they
are counted as failed), so a request waits for S3 at most once. A failure is logged, with
the request id and never the text, and counted (``CaptureFailures``); nothing is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.capture_format import (
    CaptureFormatError,
    CaptureRecord,
    capture_stratum,
    inclusion_probability,
    new_record,
    new_record_id,
    record_key,
    utc_now_text,
)
from chalicelib.s3_write import CreateFailed, create_json
from chalicelib.settings import APP_NAME, Settings

if TYPE_CHECKING:
    from chalicelib.model import Scored

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "READ_TIMEOUT_SECONDS",
    "TIMEOUT_SECONDS",
    "CaptureWriter",
    "client_settings",
]

_log = logging.getLogger(f"{APP_NAME}.capture")
#: The capture client's timeouts: together at most half a second per write, one attempt.
CONNECT_TIMEOUT_SECONDS = 0.25
READ_TIMEOUT_SECONDS = 0.25
TIMEOUT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS


def client_settings(settings: Settings) -> Settings:
    """``settings`` for the capture writes' own S3 client: short timeouts, one attempt.

    ``s3_client.make_s3_client`` turns them into either kind of client (botocore's, or the
    standard-library one the API uses on Lambda), as it does the registry reader's.
    """
    return replace(
        settings,
        s3_connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
        s3_read_timeout_seconds=READ_TIMEOUT_SECONDS,
        s3_max_attempts=1,
    )


class CaptureWriter:
    """Decides which scored messages are kept and creates their pending records.

    ``s3`` is the capture client (``client_settings``); the rates, the band and the prefix
    are the settings' ``CAPTURE_*`` and ``UNCERTAINTY_BAND``.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.prefix = settings.capture_prefix
        self.rate = settings.capture_rate
        self.uncertain_rate = settings.capture_uncertain_rate
        self.band = settings.uncertainty_band
        self._clock = clock

    def keep(
        self,
        request_id: str,
        model_version: str,
        threshold: float,
        texts: Sequence[str],
        scores: Sequence[Scored],
    ) -> tuple[int, int]:
        """Write the records of the messages drawn; ``(written, failed)``. Never raises."""
        written = failed = 0
        for position, (text, scored) in enumerate(zip(texts, scores, strict=True)):
            stratum = capture_stratum(
                request_id,
                position,
                spam_probability=scored.spam_probability,
                threshold=threshold,
                band=self.band,
                rate=self.rate,
                uncertain_rate=self.uncertain_rate,
            )
            if stratum is None:
                continue
            if failed:  # S3 failed this request once already: do not make it wait again
                failed += 1
                continue
            now = self._clock()
            try:
                record = new_record(
                    text,
                    record_id=new_record_id(now),
                    captured_at=utc_now_text(now),
                    request_id=request_id,
                    position=position,
                    model_version=model_version,
                    spam_probability=scored.spam_probability,
                    threshold=threshold,
                    stratum=stratum,
                    inclusion_probability=inclusion_probability(
                        stratum, self.rate, self.uncertain_rate
                    ),
                )
            except CaptureFormatError as exc:  # says which field, never the text
                _log.warning("message %d not captured: %s", position, exc)
                failed += 1
                continue
            if self._create(record):
                written += 1
            else:
                failed += 1
        return written, failed

    def _create(self, record: CaptureRecord) -> bool:
        """One conditional PUT of ``record``; whether S3 took it (a failure is logged)."""
        key = record_key(self.prefix, "pending", record.id)
        try:
            create_json(self._s3, self.bucket, key, record.to_json())
        except CreateFailed as exc:  # a taken key too: one attempt, and never over another
            _log.warning(
                "message %d (%s) not captured in s3://%s/%s: %s",
                record.position,
                record.stratum,
                self.bucket,
                key,
                exc,
            )
            return False
        return True

"""Storing people's reports of wrong verdicts: one object each, under the pending prefix.

The API only ever creates objects here (its role may ``s3:PutObject`` on
``<FEEDBACK_PREFIX>pending/*`` and nothing else), and never overwrites one: each PUT is a
conditional create (``If-None-Match: *``), so two reports can never land on one key
whatever the ids. Reports stay untrusted until a person moves them to ``accepted/`` with
``python -m trainer feedback accept``; nothing here is ever read back by the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.feedback_format import (
    Report,
    Verdict,
    new_report,
    new_report_id,
    report_key,
    utc_now_text,
)
from chalicelib.s3_write import CreateFailed, create_json
from chalicelib.settings import APP_NAME
from chalicelib.unavailable import Unavailable

__all__ = ["FeedbackUnavailableError", "FeedbackWriter"]

_log = logging.getLogger(f"{APP_NAME}.feedback")
#: How soon a client may try again after S3 refused or did not answer.
RETRY_AFTER_SECONDS = 5.0


class FeedbackUnavailableError(Unavailable):
    """S3 did not store the report: a 503. ``str(exc)`` is for the log (bucket, key, cause)."""

    retry_after = RETRY_AFTER_SECONDS

    def client_message(self, retry_in: int) -> str:
        return (
            f"the report was not stored: S3 did not take it. Nothing was kept; "
            f"send it again in {retry_in} s"
        )


class FeedbackWriter:
    """Creates pending reports in ``s3://bucket/prefix`` (``prefix`` is FEEDBACK_PREFIX)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self._clock = clock

    def store(
        self,
        text: str,
        label: str,
        *,
        verdict: Verdict | None,
        corrected_version: str | None = None,
        corrected_request_id: str | None = None,
    ) -> Report:
        """Create the report; ``FeedbackUnavailableError`` when S3 did not take it.

        A key already taken (412) means the id collided: one more try with a new id.
        """
        now = self._clock()
        for _ in range(2):
            report = new_report(
                text,
                label,
                report_id=new_report_id(now),
                received_at=utc_now_text(now),
                verdict=verdict,
                corrected_version=corrected_version,
                corrected_request_id=corrected_request_id,
            )
            key = report_key(self.prefix, "pending", report.id)
            try:
                create_json(self._s3, self.bucket, key, report.to_json())
            except CreateFailed as exc:
                if exc.taken:
                    _log.warning(
                        "report key s3://%s/%s was taken; trying a new id", self.bucket, key
                    )
                    continue
                raise FeedbackUnavailableError(
                    f"could not write s3://{self.bucket}/{key}: {exc}"
                ) from exc
            _log.info("stored report %s (%s)", report.id, report.label)
            return report
        raise FeedbackUnavailableError(f"two report keys in a row were taken in {self.bucket}")

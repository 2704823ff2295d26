"""The API's one kind of S3 write: a JSON object created once, never over another.

The feedback writer (each report) and the capture writer (each kept message) both create
objects under a ``pending/`` prefix of their own with ``If-None-Match: *``, so a key that
already holds an object is refused (412) instead of overwritten, whatever the ids. Either
S3 client (botocore's, ``chalicelib.s3_http``'s) raises alike; here both become one
``CreateFailed`` that says why, for the writer to turn into its own outcome.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.s3_errors import PRECONDITION_FAILED_CODES, error_code

__all__ = ["CreateFailed", "create_json"]


class CreateFailed(Exception):
    """S3 did not create the object. ``str(exc)`` says why (for the log, never the client);
    ``taken``: the key already held an object."""

    def __init__(self, reason: str, *, taken: bool = False) -> None:
        super().__init__(reason)
        self.taken = taken


def create_json(s3: Any, bucket: str, key: str, body: bytes) -> None:
    """Create ``s3://bucket/key`` holding ``body`` (JSON) only if no object has that key.

    Raises ``CreateFailed``: ``S3 answered <code>`` for an error answer (``taken`` for a
    failed precondition), ``S3 did not answer (...)`` when it could not be reached in time.
    """
    try:
        s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
        )
    except ClientError as exc:
        code = error_code(exc)
        raise CreateFailed(f"S3 answered {code}", taken=code in PRECONDITION_FAILED_CODES) from exc
    except (BotoCoreError, OSError) as exc:
        raise CreateFailed(f"S3 did not answer ({exc!r})") from exc

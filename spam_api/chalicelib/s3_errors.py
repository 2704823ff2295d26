"""What an AWS error says, read in one place by the API, the trainer and the deploy.

botocore raises ``ClientError`` with the service's answer in ``exc.response``; its
``Error.Code`` is the code S3 sent (``NoSuchKey``, ``AccessDenied``, ...), or the bare
HTTP status when the answer had no body to carry one (a HEAD, a 304). The sets below
name each outcome in both spellings. Standard library only, and botocore is not
imported (the error is read by its ``response``), so the API's cold path and the
trainer can both import it for nothing.

>>> from botocore.exceptions import ClientError
>>> error_code(ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")) in NOT_FOUND_CODES
True
>>> error_code(ValueError("not from AWS"))
''
"""

from __future__ import annotations

__all__ = [
    "ACCESS_DENIED_CODES",
    "NOT_FOUND_CODES",
    "NOT_MODIFIED_CODES",
    "NO_SUCH_BUCKET",
    "PRECONDITION_FAILED_CODES",
    "error_code",
]

#: The object does not exist (a HEAD's bodiless 404 cannot say whether the key or the
#: bucket is missing, so it lands here too).
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
#: The bucket itself does not exist (a GET says so; a HEAD only says 404).
NO_SUCH_BUCKET = "NoSuchBucket"
#: A conditional GET's ``If-None-Match`` still matches: nothing changed.
NOT_MODIFIED_CODES = frozenset({"304", "NotModified"})
#: Forbidden, or (without ``s3:ListBucket``) S3's way of saying a key does not exist.
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden"})
#: A conditional write's ``If-None-Match`` / ``If-Match`` failed: the key changed.
PRECONDITION_FAILED_CODES = frozenset({"PreconditionFailed", "412"})


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError``; ``""`` for any other exception."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))

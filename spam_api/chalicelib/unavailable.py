"""``Unavailable``: a domain's "not now, try again later", as the HTTP boundary needs it.

The error module (``chalicelib.errors``) answers any ``Unavailable`` with a 503: the
message is the domain's ``client_message``, ``Retry-After`` its ``retry_after``, and
``str(exc)`` (bucket, key, cause) goes to the log only. So a domain that can be
temporarily unable to serve (the model holder: no model yet; the feedback writer: S3
did not take the report) subclasses this, and the error module knows this one class
rather than every domain. It imports nothing, so every module can import it.
"""

from __future__ import annotations

__all__ = ["Unavailable"]


class Unavailable(Exception):
    """Something a request needs cannot be had now; retrying after ``retry_after`` s may help.

    ``str(exc)`` is for the log. Subclasses set ``retry_after`` and say, in
    ``client_message``, what a client may read.
    """

    retry_after: float = 1.0
    #: True when what is missing is the model: the answer counts as ``NoModel`` in the metrics.
    no_model: bool = False

    def client_message(self, retry_in: int) -> str:
        """The 503's message; ``retry_in`` is ``retry_after`` rounded up to whole seconds."""
        raise NotImplementedError

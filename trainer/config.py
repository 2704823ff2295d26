"""The trainer's environment variables, read in this one place (the README's table).

===================  =============================================  ===========================
variable             default                                        meaning
===================  =============================================  ===========================
MODEL_BUCKET         (none: required to publish, list, roll back)   registry bucket
MODEL_PREFIX         ``models/``                                    registry key prefix
FEEDBACK_PREFIX      ``feedback/``                                  reports' prefix (same bucket)
CAPTURE_PREFIX       ``capture/``                                   captured traffic's prefix
SPAM_DATA            (none: download the SMS collection)            ``--data`` specs, shell-split
SPAM_DATA_HOME       ``~/.cache/spam-classifier``                   download cache folder
SPAM_DATA_URL        UCI's SMS Spam Collection zip                  where the download comes from
AWS_ENDPOINT_URL_S3  (boto3 default)                                read by boto3 itself
===================  =============================================  ===========================
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chalicelib.capture_format import DEFAULT_CAPTURE_PREFIX
from chalicelib.feedback_format import DEFAULT_FEEDBACK_PREFIX

__all__ = ["DEFAULT_DATA_URL", "DEFAULT_PREFIX", "SMS_SHA256", "TrainerEnv", "read_env"]

DEFAULT_PREFIX = "models/"
DEFAULT_DATA_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip"
#: sha256 of the ``SMSSpamCollection`` member (../shared/data/sms_spam_collection/SOURCE.md).
SMS_SHA256 = "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d"
DEFAULT_DATA_HOME = Path("~/.cache/spam-classifier")


@dataclass(frozen=True)
class TrainerEnv:
    """What the environment configures; flags override each field."""

    bucket: str | None
    prefix: str
    data: tuple[str, ...]
    data_home: Path
    data_url: str
    feedback_prefix: str = DEFAULT_FEEDBACK_PREFIX
    capture_prefix: str = DEFAULT_CAPTURE_PREFIX


def read_env(environ: Mapping[str, str] | None = None) -> TrainerEnv:
    """Read the variables in the module docstring (blank counts as unset)."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    return TrainerEnv(
        bucket=get("MODEL_BUCKET"),
        prefix=get("MODEL_PREFIX") or DEFAULT_PREFIX,
        data=tuple(shlex.split(get("SPAM_DATA") or "")),
        data_home=Path(get("SPAM_DATA_HOME") or DEFAULT_DATA_HOME).expanduser(),
        data_url=get("SPAM_DATA_URL") or DEFAULT_DATA_URL,
        feedback_prefix=get("FEEDBACK_PREFIX") or DEFAULT_FEEDBACK_PREFIX,
        capture_prefix=get("CAPTURE_PREFIX") or DEFAULT_CAPTURE_PREFIX,
    )

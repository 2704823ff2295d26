"""What the stack's dashboard and alarms need from a stage, worked out before a deploy.

``stack/aws/template.json`` holds the dashboard, the alarms and their SNS topic; deploy
passes it the stage's name and metrics namespace (where the API's EMF lines put its
metrics), the REST API's name and stage, the threshold of the duration alarm and the
optional e-mail address the alarms go to. This module derives the threshold and checks the
address, so a bad one stops the deploy before anything exists.
"""

from __future__ import annotations

import re

from chalice.constants import DEFAULT_LAMBDA_TIMEOUT

from stack.aws.context import DeployError

__all__ = [
    "ALARM_EMAIL_PATTERN",
    "API_GATEWAY_TIMEOUT_SECONDS",
    "DEFAULT_LAMBDA_TIMEOUT",
    "check_alarm_email",
    "duration_alarm_ms",
]

#: API Gateway answers 504 when a REST integration takes longer than this (platform facts).
API_GATEWAY_TIMEOUT_SECONDS = 29
#: The duration alarm fires at this share of the longest a request can run.
DURATION_ALARM_SHARE = 0.9
#: What ``--alarm-email`` must look like; the template's ``AlarmEmail`` allows it or nothing.
ALARM_EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"


def duration_alarm_ms(timeout_seconds: int) -> int:
    """The p90 duration the function's duration alarm fires above, in milliseconds.

    AWS's recommended Lambda Duration alarm asks for a threshold below the timeout; behind
    API Gateway a request ends at 29 s whatever the function's timeout (Chalice's default
    is 60 s), so the alarm takes 90% of the shorter of the two.

    >>> duration_alarm_ms(30), duration_alarm_ms(DEFAULT_LAMBDA_TIMEOUT), duration_alarm_ms(10)
    (26100, 26100, 9000)
    """
    longest = min(int(timeout_seconds), API_GATEWAY_TIMEOUT_SECONDS)
    return round(longest * 1000 * DURATION_ALARM_SHARE)


def check_alarm_email(address: str) -> str:
    """``address`` when it is empty (no e-mail) or looks like an e-mail address.

    >>> check_alarm_email("ops@example.org"), check_alarm_email("")
    ('ops@example.org', '')
    """
    if address and not re.fullmatch(ALARM_EMAIL_PATTERN, address):
        raise DeployError(
            f"--alarm-email {address!r} is not an e-mail address (name@domain.tld); "
            f"pass --alarm-email '' to stop e-mailing the alarms"
        )
    return address

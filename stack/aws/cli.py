"""The options, prompt and exit codes ``python -m stack deploy`` and ``destroy`` share.

Both act on one stage of the Chalice project, reach AWS the same way (region, profile,
an emulator's endpoint), preview alike (``--plan`` with no AWS call, ``--dry-run`` with
read-only calls), and report failures alike: a :class:`DeployError` says what to do
(exit 2), a failed AWS call is shown as it came (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from stack import API_DIR
from stack.aws.context import AwsContext, DeployError, make_context

__all__ = ["DEFAULT_PROJECT_DIR", "add_stage_arguments", "ask", "context_from", "exit_code"]

DEFAULT_PROJECT_DIR = API_DIR


def add_stage_arguments(parser: argparse.ArgumentParser, *, verb: str, region: str) -> None:
    """``--stage``, ``--region``, ``--profile``, ``--endpoint-url``, and the preview options.

    ``verb`` says what happens to the stage, ``region`` where the region comes from by
    default; ``--project-dir`` is hidden (the tests point it at a copy).
    """
    parser.add_argument("--stage", default="dev", help=f"Chalice stage to {verb} (default dev)")
    parser.add_argument("--region", help=f"AWS region (default: {region})")
    parser.add_argument("--profile", help="AWS profile to use (default: AWS_PROFILE)")
    parser.add_argument(
        "--endpoint-url", help="AWS endpoint (an emulator such as moto); default: real AWS"
    )
    parser.add_argument(
        "--plan", action="store_true", help="print what would happen; no AWS call, no credentials"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="create the change set and print it without executing it (reads the account)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask before changing prod")
    parser.add_argument(
        "--project-dir", type=Path, default=DEFAULT_PROJECT_DIR, help=argparse.SUPPRESS
    )


def context_from(args: argparse.Namespace, *, region: str | None = None) -> AwsContext:
    """The AWS context the options ask for; ``region`` when ``--region`` is not given."""
    return make_context(
        region=args.region or region,
        endpoint_url=args.endpoint_url,
        profile=args.profile,
    )


def ask(question: str) -> bool:
    """Ask on the terminal; no terminal (CI) is a no: pass ``--yes`` there."""
    if not sys.stdin.isatty():
        print(f"{question}no terminal to ask on: pass --yes to go on without asking")
        return False
    return input(question).strip().lower() in {"y", "yes"}


def exit_code(command: str, action: Callable[[], object]) -> int:
    """Run ``action``: 0, or its failure on stderr and 2 (``DeployError``) or 1 (AWS call)."""
    try:
        action()
    except DeployError as exc:
        print(f"{command} failed: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:
        print(f"{command} failed on an AWS call: {exc}", file=sys.stderr)
        return 1
    return 0

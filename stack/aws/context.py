"""Reaching AWS for ``python -m stack deploy|destroy``: one session, a preflight, the options.

Every step takes its boto3 clients from an :class:`AwsContext` (tests point it at moto or
put stubs in it). :func:`resolve_region` and :func:`preflight` turn the usual first-deploy
mistakes (no region, a misspelt region, no or rejected credentials) into one
:class:`DeployError` that says what to do, before anything is created.

Deploy and destroy act on one stage of the Chalice project, reach AWS the same way
(region, profile, an emulator's endpoint: :func:`add_stage_arguments`,
:func:`context_from`), preview alike (``--plan`` with no AWS call, ``--dry-run`` with
read-only calls), and report failures alike (:func:`exit_code`): a :class:`DeployError`
says what to do (exit 2), a failed AWS call is shown as it came (exit 1).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)
from chalicelib.s3_errors import error_code

from stack import API_DIR

__all__ = [
    "DEFAULT_PROJECT_DIR",
    "AwsContext",
    "DeployError",
    "Identity",
    "add_stage_arguments",
    "ask",
    "context_from",
    "exit_code",
    "known_regions",
    "make_context",
    "preflight",
    "resolve_region",
]

_CLIENT_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=120
)


class DeployError(RuntimeError):
    """A deployment cannot go on; the message says why and what to do. Exit status 2."""


@dataclass(frozen=True)
class Identity:
    """Who the credentials belong to, as STS says (or placeholders in a dry run)."""

    account: str
    arn: str


def known_regions() -> set[str]:
    """Every region botocore knows for Lambda, in every partition (aws, aws-cn, ...)."""
    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("lambda", partition_name=partition))
    return regions


def resolve_region(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The region to deploy to: ``--region``, else the environment or profile, checked.

    A missing region would otherwise surface halfway through as botocore's
    ``NoRegionError``; a misspelt one as a DNS failure on the first call.
    """
    env = os.environ if environ is None else environ
    try:
        region = (
            explicit
            or env.get("AWS_REGION")
            or env.get("AWS_DEFAULT_REGION")
            or boto3.session.Session(profile_name=env.get("AWS_PROFILE") or None).region_name
        )
    except ProfileNotFound as exc:
        raise DeployError(
            f"AWS profile {env.get('AWS_PROFILE')!r} is not configured: check --profile / "
            f"AWS_PROFILE against `aws configure list-profiles`"
        ) from exc
    if not region:
        raise DeployError(
            "no AWS region: pass --region (for example --region eu-west-1) or set "
            "AWS_REGION / AWS_DEFAULT_REGION, or a region in your AWS profile"
        )
    if region not in known_regions():
        raise DeployError(
            f"unknown AWS region {region!r}: use a region code such as us-east-1 or "
            f"eu-west-1 (see `aws ec2 describe-regions`)"
        )
    return region


@dataclass
class AwsContext:
    """Where and how to talk to AWS: region, optional endpoint (moto, tests), profile."""

    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` in this context's region (cached)."""
        if service not in self._clients:
            session = boto3.session.Session(profile_name=self.profile)
            self._clients[service] = session.client(
                service,
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=_CLIENT_CONFIG,
            )
        return self._clients[service]

    def subprocess_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for ``chalice`` and the trainer: same region, endpoint, profile."""
        env = dict(os.environ if base is None else base)
        env["AWS_DEFAULT_REGION"] = self.region
        env["AWS_REGION"] = self.region
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.profile:
            env["AWS_PROFILE"] = self.profile
        return env


def make_context(
    *,
    region: str | None,
    endpoint_url: str | None = None,
    profile: str | None = None,
) -> AwsContext:
    """Resolve and check the region, then build the context (no AWS call yet)."""
    environ = dict(os.environ)
    if profile:
        environ["AWS_PROFILE"] = profile
    return AwsContext(
        region=resolve_region(region, environ),
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
        profile=profile,
    )


def preflight(ctx: AwsContext) -> Identity:
    """Check the credentials work (``sts:GetCallerIdentity``) before anything is created."""
    try:
        answer = ctx.client("sts").get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise DeployError(
            "no AWS credentials found: run `aws configure` (or `aws sso login` with "
            "AWS_PROFILE set), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ) from exc
    except EndpointConnectionError as exc:
        raise DeployError(
            f"cannot reach AWS STS in {ctx.region} ({exc}); check the network, the region "
            f"and AWS_ENDPOINT_URL"
        ) from exc
    except ClientError as exc:
        raise DeployError(
            f"AWS rejected these credentials ({error_code(exc)}): they are wrong, "
            f"expired or not valid in {ctx.region}; refresh them and try again"
        ) from exc
    except BotoCoreError as exc:
        raise DeployError(f"cannot check AWS credentials: {exc}") from exc
    return Identity(account=str(answer["Account"]), arn=str(answer["Arn"]))


# --- the options deploy and destroy share ---------------------------------------------------

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

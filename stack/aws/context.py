"""AWS access for ``python -m stack deploy|destroy``: one session and a preflight.

Every step takes its boto3 clients from an :class:`AwsContext` (tests point it at moto or
put stubs in it). :func:`resolve_region` and :func:`preflight` turn the usual first-deploy
mistakes (no region, a misspelt region, no or rejected credentials) into one
:class:`DeployError` that says what to do, before anything is created.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
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

__all__ = [
    "AwsContext",
    "DeployError",
    "Identity",
    "client_error_code",
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


def client_error_code(exc: ClientError) -> str:
    """The AWS error code of a ``ClientError`` (``"404"``, ``"AccessDenied"``, ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


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
            f"AWS rejected these credentials ({client_error_code(exc)}): they are wrong, "
            f"expired or not valid in {ctx.region}; refresh them and try again"
        ) from exc
    except BotoCoreError as exc:
        raise DeployError(f"cannot check AWS credentials: {exc}") from exc
    return Identity(account=str(answer["Account"]), arn=str(answer["Arn"]))

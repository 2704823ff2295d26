"""AWS access for ``python -m stack deploy|destroy``: one session, a preflight, a dry-run client.

Why a module of its own: every step of the deployment takes its boto3 clients as
arguments (tests pass moto or stub clients), so building those clients, checking that
they can work at all, and faking them for ``--dry-run`` lives in one place.

- :func:`resolve_region` and :func:`preflight` turn the usual first-deploy mistakes (no
  region, a misspelt region, no or rejected credentials) into one :class:`DeployError`
  with a message that says what to do, before anything is created.
- :class:`DryRunClient` stands in for a boto3 client: it prints each call it is asked to
  make and makes none, answering as a fresh account would (nothing exists yet), so the
  dry run lists every call a first deploy makes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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
    "DRY_RUN_ACCOUNT",
    "AwsContext",
    "DeployError",
    "DryRunClient",
    "Identity",
    "client_error_code",
    "known_regions",
    "make_context",
    "preflight",
    "resolve_region",
]

#: Stands in for the account id in a dry run, where we may not ask STS who we are.
DRY_RUN_ACCOUNT = "<account-id>"

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
    """Where and how to talk to AWS: region, optional endpoint (moto, tests), dry run.

    ``client(name)`` hands out one client per service; in a dry run it hands out
    :class:`DryRunClient` objects instead, so no step can make a call by accident.
    """

    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    dry_run: bool = False
    out: Callable[[str], None] = print
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` in this context's region (cached)."""
        if service not in self._clients:
            if self.dry_run:
                self._clients[service] = DryRunClient(service, self.region, out=self.out)
            else:
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
    dry_run: bool = False,
    out: Callable[[str], None] = print,
) -> AwsContext:
    """Resolve and check the region, then build the context (no AWS call yet)."""
    environ = dict(os.environ)
    if profile:
        environ["AWS_PROFILE"] = profile
    return AwsContext(
        region=resolve_region(region, environ),
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
        profile=profile,
        dry_run=dry_run,
        out=out,
    )


def preflight(ctx: AwsContext) -> Identity:
    """Check the credentials work (``sts:GetCallerIdentity``) before anything is created.

    In a dry run nothing is called and the identity is a placeholder.
    """
    if ctx.dry_run:
        ctx.client("sts").get_caller_identity()
        return Identity(account=DRY_RUN_ACCOUNT, arn="<your identity>")
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


def _short(value: Any) -> str:
    """A call argument as the dry run prints it: bytes and long strings abbreviated."""
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if hasattr(value, "read"):
        return "<file>"
    if isinstance(value, str) and len(value) > 200:
        return repr(value[:60] + f"...<{len(value)} chars>")
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return repr(value)


def _not_found(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, operation)


class DryRunClient:
    """Looks like a boto3 client; prints every call as ``[dry-run] service.op(...)``.

    Answers are those of a fresh account: ``head_*``/``get_*`` find nothing (404), so
    the calling code walks its create path and the printout lists every call a first
    deploy would make. Nothing goes over the network.
    """

    def __init__(self, service: str, region: str, *, out: Callable[[str], None] = print) -> None:
        self._service = service
        self._region = region
        self._out = out
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        if operation.startswith("_"):
            raise AttributeError(operation)

        def call(**params: Any) -> Any:
            self.calls.append((operation, params))
            args = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
            self._out(f"[dry-run] {self._service}.{operation}({args})")
            return self._answer(operation, params)

        return call

    def _answer(self, operation: str, params: dict[str, Any]) -> Any:
        if operation == "get_caller_identity":
            return {"Account": DRY_RUN_ACCOUNT, "Arn": "<your identity>"}
        if operation == "publish_layer_version":
            name = params.get("LayerName", "layer")
            arn = f"arn:aws:lambda:{self._region}:{DRY_RUN_ACCOUNT}:layer:{name}:<new>"
            return {"LayerVersionArn": arn, "Version": 0}
        if operation.startswith(("head_", "get_")):
            raise _not_found(operation)
        return {}

"""Which S3 client the API reads with, and the AWS environment that decides it.

Two clients answer alike (``chalicelib.registry.RegistryReader`` treats them the same):
``chalicelib.s3_http.HttpS3Client`` for the one case it knows completely, the one Lambda
presents (credentials and region in environment variables, AWS's endpoints or one
configured endpoint), and botocore's client, with its full credential chain, for
everything else. The AWS variables are read here rather than in ``chalicelib.settings``
because they are not the API's settings: they are botocore's, read as botocore reads them,
to decide whether botocore is needed at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.settings import Settings

__all__ = [
    "BOTOCORE_ONLY_VARIABLES",
    "AwsEnvironment",
    "load_aws_environment",
    "make_s3_client",
]

_URL_RE = re.compile(r"^https?://[^\s/]+(/.*)?$")


#: Variables that change how botocore reaches S3 in ways ``chalicelib.s3_http`` does not
#: implement; when one is set, the API uses botocore's client.
BOTOCORE_ONLY_VARIABLES = (
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
)


@dataclass(frozen=True)
class AwsEnvironment:
    """What botocore would read from the environment to reach S3 (for ``chalicelib.s3_http``).

    Lambda sets the credentials (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``) and the region (``AWS_REGION``, ``AWS_DEFAULT_REGION``).
    """

    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str = ""
    endpoint_url: str | None = None
    ca_bundle: str | None = None
    botocore_only: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Credentials and region are all here, and nothing needs botocore."""
        return bool(
            self.access_key_id
            and self.secret_access_key
            and self.region
            and not self.botocore_only
            and (self.endpoint_url is None or _URL_RE.match(self.endpoint_url))
        )


def load_aws_environment(environ: Mapping[str, str] | None = None) -> AwsEnvironment:
    """Credentials, region, endpoint and CA bundle from ``environ`` as botocore reads them."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    return AwsEnvironment(
        access_key_id=get("AWS_ACCESS_KEY_ID") or "",
        secret_access_key=get("AWS_SECRET_ACCESS_KEY") or "",
        session_token=get("AWS_SESSION_TOKEN"),
        region=get("AWS_DEFAULT_REGION") or get("AWS_REGION") or "",
        endpoint_url=get("AWS_ENDPOINT_URL_S3") or get("AWS_ENDPOINT_URL"),
        ca_bundle=get("AWS_CA_BUNDLE"),
        botocore_only=tuple(name for name in BOTOCORE_ONLY_VARIABLES if get(name)),
    )


def make_s3_client(settings: Settings, aws: AwsEnvironment | None = None) -> Any:
    """An S3 client with bounded timeouts and retries (never botocore's defaults).

    Where it applies (``S3_CLIENT=auto`` and credentials and region in the environment,
    as on Lambda), ``chalicelib.s3_http.HttpS3Client``: it makes the same signed calls
    without botocore's imports and client set-up at every cold start.
    Otherwise botocore's client: the endpoint comes from ``S3_ENDPOINT_URL`` when set, or
    botocore itself honours ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (local S3) or
    talks to AWS. (botocore's rather than boto3's: boto3's resource layer and s3transfer
    would add imports for nothing used here.)
    """
    aws = aws if aws is not None else load_aws_environment()
    if settings.s3_client == "auto" and aws.complete:
        from chalicelib.s3_http import HttpS3Client

        return HttpS3Client(aws, settings)
    from botocore.config import Config  # deferred: package/deploy never need it
    from botocore.session import get_session

    config = Config(
        connect_timeout=settings.s3_connect_timeout_seconds,
        read_timeout=settings.s3_read_timeout_seconds,
        retries={"total_max_attempts": settings.s3_max_attempts, "mode": "standard"},
        max_pool_connections=16,
    )
    kwargs: dict[str, Any] = {"config": config}
    if settings.s3_endpoint_url:
        kwargs["endpoint_url"] = settings.s3_endpoint_url
    return get_session().create_client("s3", **kwargs)

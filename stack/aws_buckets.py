"""The deployment's S3 buckets: the private model registry and the optional page bucket.

Why these rules:

- A bucket name is global. :func:`check_bucket` runs in the preflight, before anything
  is created, so a name owned by someone else (403) or living in another region stops
  the deploy with a message instead of leaving half a stack behind.
- The model bucket is private, versioned (an overwritten ``current.json`` can be
  recovered) and encrypted. A reused bucket keeps settings it already has (its own KMS
  key, say) and only gets what is missing, so a second deploy only reads.
- The page bucket is public-read by design (S3 website hosting): it holds nothing but
  ``static/`` and the API URL.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from stack.aws import DeployError, client_error_code

__all__ = [
    "BLOCK_ALL_PUBLIC_ACCESS",
    "BucketState",
    "check_bucket",
    "delete_bucket_and_contents",
    "ensure_feedback_expiry",
    "ensure_model_bucket",
    "ensure_page_bucket",
    "feedback_expiry_rules",
    "upload_page",
    "website_url",
]

BucketState = Literal["ours", "missing"]

BLOCK_ALL_PUBLIC_ACCESS = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

# Regions whose website endpoint uses a dash (s3-website-REGION); newer ones use a dot.
_DASH_WEBSITE_REGIONS = {
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "eu-west-1",
    "sa-east-1",
    "us-gov-west-1",
}


def _bucket_region(response: dict[str, Any]) -> str | None:
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return response.get("BucketRegion") or headers.get("x-amz-bucket-region")


def check_bucket(s3: Any, name: str, *, region: str, account: str) -> BucketState:
    """``"ours"`` when we own ``name`` in ``region``, ``"missing"`` when it is free.

    Raises :class:`DeployError` when the name is taken by another account (or we may
    not see it) or the bucket is in another region. Makes one ``HeadBucket`` call.
    """
    try:
        response = s3.head_bucket(Bucket=name, ExpectedBucketOwner=account)
    except ClientError as exc:
        code = client_error_code(exc)
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return "missing"
        if code in {"403", "AccessDenied", "Forbidden"}:
            raise DeployError(
                f"bucket {name!r} exists but is not yours (or these credentials may not "
                f"read it): bucket names are global, so choose another with --bucket / "
                f"--static-bucket; nothing has been created"
            ) from exc
        if code in {"301", "PermanentRedirect", "400"}:
            raise DeployError(
                f"bucket {name!r} exists in another region than {region}: deploy with "
                f"that region (--region) or choose another bucket name; nothing has been "
                f"created"
            ) from exc
        raise DeployError(f"cannot check bucket {name!r}: {code}") from exc
    except BotoCoreError as exc:
        raise DeployError(f"cannot check bucket {name!r}: {exc}") from exc
    found = _bucket_region(response)
    if found and found != region:
        raise DeployError(
            f"bucket {name!r} is in {found}, not {region}: deploy with --region {found} "
            f"or choose another bucket name; nothing has been created"
        )
    return "ours"


def _create_bucket(s3: Any, name: str, region: str) -> None:
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**params)
    except ClientError as exc:
        code = client_error_code(exc)
        if code == "BucketAlreadyOwnedByYou":
            return
        if code == "BucketAlreadyExists":
            raise DeployError(
                f"bucket name {name!r} is taken by another AWS account; choose another "
                f"with --bucket / --static-bucket"
            ) from exc
        raise DeployError(f"could not create bucket {name!r}: {code}: {exc}") from exc


def _deny_insecure_transport(name: str) -> str:
    arn = f"arn:aws:s3:::{name}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def _read_setting(s3: Any, operation: str, name: str, missing_codes: set[str]) -> Any:
    """A bucket setting as S3 returns it, or ``None`` when it is not configured."""
    try:
        return getattr(s3, operation)(Bucket=name)
    except ClientError as exc:
        if client_error_code(exc) in missing_codes | {"404"}:
            return None
        raise


def ensure_model_bucket(
    s3: Any,
    name: str,
    *,
    region: str,
    state: BucketState,
    require_tls: bool = True,
    out: Callable[[str], None] = print,
) -> bool:
    """Create or reuse the private model bucket; returns True when it was created here.

    Created: versioning on, all public access blocked, SSE-S3 with a bucket key, and
    (``require_tls``) a policy refusing plain HTTP, which an emulator served over HTTP
    must not get: it would lock everyone out. Reused: each of versioning, public access block and
    default encryption is read and set only where missing.
    """
    created = state == "missing"
    if created:
        out(f"creating model bucket s3://{name} in {region}")
        _create_bucket(s3, name, region)
    else:
        out(f"reusing model bucket s3://{name}")
    if created or s3.get_bucket_versioning(Bucket=name).get("Status") != "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    block = (
        None
        if created
        else _read_setting(
            s3, "get_public_access_block", name, {"NoSuchPublicAccessBlockConfiguration"}
        )
    )
    block_missing = block is None or (
        block.get("PublicAccessBlockConfiguration") != BLOCK_ALL_PUBLIC_ACCESS
    )
    if block_missing:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=BLOCK_ALL_PUBLIC_ACCESS
        )
    if created or not _read_setting(
        s3, "get_bucket_encryption", name, {"ServerSideEncryptionConfigurationNotFoundError"}
    ):
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
    if created and require_tls:
        s3.put_bucket_policy(Bucket=name, Policy=_deny_insecure_transport(name))
    return created


#: Lifecycle rule ids this deploy owns; rules with other ids are the bucket owner's, kept.
FEEDBACK_RULE_IDS = {
    "pending": "expire-unreviewed-feedback",
    "rejected": "expire-rejected-feedback",
}


def feedback_expiry_rules(prefix: str, days: int) -> list[dict[str, Any]]:
    """Expire unreviewed and rejected reports after ``days``, and every old version of them.

    The bucket is versioned: a report that is moved (accepted) or deleted stays as a
    noncurrent version unless that version expires too, so those go a day after they
    stop being current. Accepted reports are training data and are kept.
    """
    return [
        {
            "ID": rule_id,
            "Filter": {"Prefix": f"{prefix}{state}/"},
            "Status": "Enabled",
            "Expiration": {"Days": days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        }
        for state, rule_id in FEEDBACK_RULE_IDS.items()
    ]


def ensure_feedback_expiry(
    s3: Any, name: str, *, prefix: str, days: int, out: Callable[[str], None] = print
) -> bool:
    """Put the feedback expiry rules into the bucket's lifecycle; True when they changed.

    Other rules are kept as they are; ours are replaced only when they differ.
    """
    current = _read_setting(
        s3, "get_bucket_lifecycle_configuration", name, {"NoSuchLifecycleConfiguration"}
    )
    rules = list((current or {}).get("Rules", []))
    ours = feedback_expiry_rules(prefix, days)
    kept = [rule for rule in rules if rule.get("ID") not in FEEDBACK_RULE_IDS.values()]
    have = [rule for rule in rules if rule.get("ID") in FEEDBACK_RULE_IDS.values()]
    if sorted(have, key=lambda r: r["ID"]) == sorted(ours, key=lambda r: r["ID"]):
        return False
    out(f"expiring unreviewed feedback under s3://{name}/{prefix} after {days} days")
    s3.put_bucket_lifecycle_configuration(
        Bucket=name, LifecycleConfiguration={"Rules": [*kept, *ours]}
    )
    return True


def ensure_page_bucket(
    s3: Any,
    name: str,
    *,
    region: str,
    state: BucketState,
    out: Callable[[str], None] = print,
) -> bool:
    """Create or reuse a public-read S3 website bucket for the page; True when created."""
    created = state == "missing"
    if created:
        out(f"creating page bucket s3://{name} in {region}")
        _create_bucket(s3, name, region)
    # ACLs stay blocked; a bucket policy may grant public read (that is the point).
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    s3.put_bucket_website(
        Bucket=name, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadPage",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{name}/*",
            }
        ],
    }
    try:
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    except ClientError as exc:
        if client_error_code(exc) == "AccessDenied":
            raise DeployError(
                f"S3 refused a public-read policy on {name!r}: the account's Block Public "
                f"Access setting forbids public buckets. Allow it for this bucket or host "
                f"static/ elsewhere (the page only needs config.js pointing at the API)"
            ) from exc
        raise
    return created


def upload_page(
    s3: Any, name: str, static_dir: Path, *, config_js: str, config_name: str = "config.js"
) -> list[str]:
    """Upload every file of ``static_dir``, with ``config_name`` replaced; returns the keys."""
    keys: list[str] = []
    for path in sorted(p for p in static_dir.rglob("*") if p.is_file()):
        key = path.relative_to(static_dir).as_posix()
        if key == config_name:
            continue
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.put_object(Bucket=name, Key=key, Body=path.read_bytes(), ContentType=content_type)
        keys.append(key)
    s3.put_object(
        Bucket=name,
        Key=config_name,
        Body=config_js.encode(),
        ContentType="text/javascript",
        CacheControl="no-cache",
    )
    keys.append(config_name)
    return keys


def website_url(name: str, region: str) -> str:
    """The S3 website endpoint of bucket ``name`` (HTTP only).

    >>> website_url("page", "eu-west-1"), website_url("page", "eu-central-1")
    ('http://page.s3-website-eu-west-1.amazonaws.com', 'http://page.s3-website.eu-central-1.amazonaws.com')
    """
    sep = "-" if region in _DASH_WEBSITE_REGIONS else "."
    return f"http://{name}.s3-website{sep}{region}.amazonaws.com"


def delete_bucket_and_contents(s3: Any, name: str) -> int:
    """Delete every object version and delete marker, then the bucket; returns the count."""
    deleted = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name):
        items = page.get("Versions", []) + page.get("DeleteMarkers", [])
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            s3.delete_objects(
                Bucket=name,
                Delete={
                    "Objects": [{"Key": i["Key"], "VersionId": i["VersionId"]} for i in chunk],
                    "Quiet": True,
                },
            )
            deleted += len(chunk)
    s3.delete_bucket(Bucket=name)
    return deleted

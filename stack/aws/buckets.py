"""The S3 side of deploy and destroy that CloudFormation does not do.

- A bucket name is global. :func:`check_bucket` runs in the preflight, before anything
  is created, so a name owned by someone else (403) or living in another region stops
  the deploy with a message instead of a stack that fails and rolls back.
- The page's files are uploaded (:func:`upload_page`) and a bucket is emptied before it
  is deleted (:func:`delete_bucket_and_contents`, :func:`empty_bucket`): CloudFormation
  neither uploads objects nor deletes a bucket that holds any.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.s3_errors import ACCESS_DENIED_CODES, NO_SUCH_BUCKET, NOT_FOUND_CODES, error_code

from stack.aws.context import DeployError

__all__ = [
    "BucketState",
    "check_bucket",
    "delete_bucket_and_contents",
    "empty_bucket",
    "upload_page",
]

BucketState = Literal["ours", "missing"]


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
        code = error_code(exc)
        if code == NO_SUCH_BUCKET or code in NOT_FOUND_CODES:
            return "missing"
        if code in ACCESS_DENIED_CODES:
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


def empty_bucket(s3: Any, name: str, *, prefix: str = "") -> int:
    """Delete every object version and delete marker (under ``prefix``); returns the count."""
    deleted = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name, Prefix=prefix):
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
    return deleted


def delete_bucket_and_contents(s3: Any, name: str) -> int:
    """Empty the bucket, then delete it; returns the number of object versions deleted."""
    deleted = empty_bucket(s3, name)
    s3.delete_bucket(Bucket=name)
    return deleted

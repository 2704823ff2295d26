"""Fixtures shared by every test package: corpora, a real S3 endpoint, a fresh bucket.

Each fixture makes one change and undoes it. The S3 endpoint is a real moto server over
HTTP on loopback (started once per session); each test that asks for ``bucket`` gets a
new, empty bucket on it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from stack import REPO_ROOT
from stack.local.services import Service, moto_server
from tests.support import FakeClock

SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# boto3 must never find real credentials or talk to real AWS from a test.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


def _corpus(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.fail(
            f"test corpus not found at {path}; the public corpora live in ../shared/data/ "
            f"next to the repository (or set SHARED_DATA_DIR to the folder that holds them)"
        )
    return path


@pytest.fixture(scope="session")
def sms_collection_path() -> Path:
    """The UCI SMS Spam Collection file (``label<TAB>text``)."""
    return _corpus("sms_spam_collection/SMSSpamCollection")


@pytest.fixture(scope="session")
def spamassassin_dir() -> Path:
    """The SpamAssassin public corpus: one folder of raw emails per set."""
    return _corpus("spamassassin")


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for code that takes ``clock=`` (the model holder's refresh timing)."""
    return FakeClock()


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A moto server over HTTP for the whole session (S3, and CloudFormation for deploy).

    It runs ``tests.moto_cfn``: moto with what its CloudFormation lacks for deploy's change
    sets (outputs, a layer's Ref, imports); everything else is moto as it is.
    """
    with moto_server(
        log_dir=tmp_path_factory.mktemp("moto-logs"),
        command=[sys.executable, "-m", "tests.moto_cfn"],
    ) as service:
        yield service


@pytest.fixture(scope="session")
def s3_endpoint(moto_s3: Service) -> str:
    """The S3 endpoint URL (what AWS_ENDPOINT_URL_S3 would hold)."""
    return moto_s3.url


@pytest.fixture
def s3_client(s3_endpoint: str):
    """A boto3 S3 client talking HTTP to the moto server."""
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )


@pytest.fixture
def bucket(s3_client) -> Iterator[str]:
    """A new, empty bucket on the moto server; emptied and deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    paginator = s3_client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3_client.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
    s3_client.delete_bucket(Bucket=name)

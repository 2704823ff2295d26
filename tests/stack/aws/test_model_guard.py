"""Deploy's model guard against moto: no function is switched to a scikit-learn without a model.

Every AWS step deploy makes runs on the moto server; ``chalice deploy`` is a recorder that
notes what the registry offers the new runtime at the moment of the switch, and the
trainer is a stand-in that publishes a model recorded as made with the scikit-learn a
test names (the real trainer pickles with the installed one; tests/stack/
test_deploy_moto.py runs it). The target scikit-learn is ``DeployOptions.runtime_sklearn``,
so these tests hold whichever scikit-learn is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from chalicelib.registry import RegistryReader
from chalicelib.registry_format import current_key, live_key

from stack.aws.context import AwsContext, DeployError
from stack.aws.deploy import DeployOptions, Toolchain, deploy
from tests.support import copy_chalice_project, delete_stacks, opaque_bundle
from trainer.registry import publish

pytestmark = [pytest.mark.integration]

REPO_ROOT = Path(__file__).resolve().parents[3]
PREFIX = "models/"
OLD, NEW = "1.7.2", "1.9.1"
URL = "https://abc123.execute-api.us-east-1.amazonaws.com/api/"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the Chalice project: deploy writes its stage settings there."""
    return copy_chalice_project(tmp_path)


@dataclass
class Switches:
    """Stands in for ``chalice deploy``: records what a cold start of the new runtime loads."""

    s3: object
    bucket: str
    runtime: str
    loaded: list[str] = field(default_factory=list)

    def factory(self, project_dir: Path, env: dict[str, str], out: Callable[[str], None]):
        return self

    def deploy(self, stage: str) -> str:
        reader = RegistryReader(self.s3, self.bucket, PREFIX, runtime_sklearn_version=self.runtime)
        manifest = reader.fetch_pointer().manifest
        assert manifest.sklearn_version == self.runtime, "switched with nothing to load"
        self.loaded.append(manifest.version)
        return URL


def publisher(s3, sklearn_version: str, calls: list[str]) -> Callable[..., None]:
    """Stands in for ``python -m trainer train --publish`` run with ``sklearn_version``."""

    def train_and_publish(ctx, bucket, prefix, data, out, extra_args=()) -> None:
        calls.append(sklearn_version)
        publish(s3, bucket, prefix, opaque_bundle(sklearn_version, f"trained-{len(calls)}"))

    return train_and_publish


def options(project: Path, bucket: str, **overrides) -> DeployOptions:
    values = dict(
        stage="prod",
        project_dir=project,
        bucket=bucket,
        skip_layer=True,
        throttle=(0.0, 0),
        yes=True,
        runtime_sklearn=NEW,
    )
    return DeployOptions(**{**values, **overrides})


@pytest.fixture
def ctx(s3_endpoint: str) -> Iterator[AwsContext]:
    yield AwsContext(region="us-east-1", endpoint_url=s3_endpoint)
    delete_stacks(s3_endpoint)


def _stacks(endpoint: str) -> list[dict]:
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
    return cloudformation.describe_stacks()["Stacks"]


def _objects(s3, bucket: str) -> dict[str, str]:
    return {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_upgrade_without_a_model_for_the_new_sklearn_stops_before_any_change(
    ctx, project, s3_client, bucket, s3_endpoint
) -> None:
    old = publish(s3_client, bucket, PREFIX, opaque_bundle(OLD, "a"))
    objects = _objects(s3_client, bucket)
    config = (project / ".chalice" / "config.json").read_text()
    switches = Switches(s3_client, bucket, NEW)
    trained: list[str] = []
    tools = Toolchain(
        train_and_publish=publisher(s3_client, NEW, trained), chalice=switches.factory
    )

    with pytest.raises(DeployError) as caught:
        deploy(options(project, bucket), ctx, tools=tools, out=lambda _l: None)

    message = str(caught.value)
    assert "no model made with scikit-learn 1.9.1" in message
    assert f"current.json names {old.version} (scikit-learn 1.7.2)" in message
    assert f"MODEL_BUCKET={bucket} MODEL_PREFIX={PREFIX}" in message
    assert "-m trainer train --publish" in message and "--train-missing-model" in message
    assert "Nothing has been changed" in message
    assert switches.loaded == [] and trained == []
    assert _objects(s3_client, bucket) == objects
    assert (project / ".chalice" / "config.json").read_text() == config
    assert not _stacks(s3_endpoint)
    versioning = s3_client.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in versioning  # not even the bucket settings were touched


def test_train_missing_model_publishes_for_the_new_sklearn_before_the_switch(
    ctx, project, s3_client, bucket
) -> None:
    old = publish(s3_client, bucket, PREFIX, opaque_bundle(OLD, "a"))
    switches = Switches(s3_client, bucket, NEW)
    trained: list[str] = []
    tools = Toolchain(
        train_and_publish=publisher(s3_client, NEW, trained), chalice=switches.factory
    )

    result = deploy(
        options(project, bucket, train_missing_model=True), ctx, tools=tools, out=lambda _l: None
    )

    assert trained == [NEW] and result.steps["model"] == "published"
    assert len(switches.loaded) == 1  # Switches asserted the model was there at the switch
    pointer = json.loads(
        s3_client.get_object(Bucket=bucket, Key=live_key(PREFIX, NEW))["Body"].read()
    )
    assert pointer["version"] == switches.loaded[0]
    current = json.loads(
        s3_client.get_object(Bucket=bucket, Key=current_key(PREFIX))["Body"].read()
    )
    assert current["version"] == old.version  # still the old functions' model

    # a second run finds the model and trains nothing
    again = deploy(options(project, bucket), ctx, tools=tools, out=lambda _l: None)
    assert again.steps["model"] == "exists" and trained == [NEW]


def test_a_model_for_the_new_sklearn_already_published_lets_deploy_go_on(
    ctx, project, s3_client, bucket
) -> None:
    publish(s3_client, bucket, PREFIX, opaque_bundle(OLD, "a"))
    new = publish(s3_client, bucket, PREFIX, opaque_bundle(NEW, "b"))
    switches = Switches(s3_client, bucket, NEW)
    trained: list[str] = []
    tools = Toolchain(
        train_and_publish=publisher(s3_client, NEW, trained), chalice=switches.factory
    )
    result = deploy(options(project, bucket), ctx, tools=tools, out=lambda _l: None)
    assert result.steps["model"] == "exists" and trained == []
    assert switches.loaded == [new.version]


def test_a_trainer_that_publishes_for_another_sklearn_never_gets_the_function_switched(
    ctx, project, s3_client, bucket
) -> None:
    publish(s3_client, bucket, PREFIX, opaque_bundle(OLD, "a"))
    switches = Switches(s3_client, bucket, NEW)
    trained: list[str] = []
    tools = Toolchain(
        train_and_publish=publisher(s3_client, OLD, trained), chalice=switches.factory
    )
    with pytest.raises(DeployError, match=r"still has no model made with scikit-learn 1\.9\.1"):
        deploy(
            options(project, bucket, train_missing_model=True),
            ctx,
            tools=tools,
            out=lambda _l: None,
        )
    assert trained == [OLD] and switches.loaded == []


def test_skip_model_with_nothing_for_the_new_sklearn_stops(ctx, project, s3_client, bucket) -> None:
    switches = Switches(s3_client, bucket, NEW)
    tools = Toolchain(chalice=switches.factory)
    with pytest.raises(DeployError, match="nothing is published"):
        deploy(options(project, bucket, skip_model=True), ctx, tools=tools, out=lambda _l: None)
    publish(s3_client, bucket, PREFIX, opaque_bundle(OLD, "a"))
    with pytest.raises(DeployError, match=r"no model made with scikit-learn 1\.9\.1"):
        deploy(
            options(project, bucket, skip_model=True, train_missing_model=True),
            ctx,
            tools=tools,
            out=lambda _l: None,
        )
    assert switches.loaded == []
    # without the API there is no function to switch: the rest may go ahead
    result = deploy(
        options(project, bucket, skip_model=True, skip_api=True), ctx, tools=tools, out=print
    )
    assert result.steps["model"] == "skipped (--skip-model)"


def test_first_deploy_still_trains_the_first_model(ctx, project, s3_client, bucket) -> None:
    switches = Switches(s3_client, bucket, NEW)
    trained: list[str] = []
    tools = Toolchain(
        train_and_publish=publisher(s3_client, NEW, trained), chalice=switches.factory
    )
    result = deploy(options(project, bucket), ctx, tools=tools, out=lambda _l: None)
    assert trained == [NEW] and result.steps["model"] == "published"
    assert len(switches.loaded) == 1


def test_deploy_cli_stops_with_exit_2_and_the_command(
    s3_endpoint, project, s3_client, bucket
) -> None:
    """As typed: the stage's scikit-learn is the pinned one; the registry has only another."""
    publish(s3_client, bucket, PREFIX, opaque_bundle("0.24.2", "ancient"))
    result = subprocess.run(
        [
            *(sys.executable, "-m", "stack", "deploy", "--stage", "prod"),
            *("--region", "us-east-1", "--endpoint-url", s3_endpoint),
            *("--bucket", bucket, "--project-dir", str(project), "--skip-layer"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "scikit-learn 0.24.2" in result.stderr
    assert "-m trainer train --publish" in result.stderr and "Traceback" not in result.stderr
    assert not _stacks(s3_endpoint)

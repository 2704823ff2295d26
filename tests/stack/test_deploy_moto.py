"""Deploy and destroy against a local moto server: every step moto supports runs for real.

Real here: STS, the model bucket and its settings (read back), the trainer's CLI
training and publishing a model, vendor_build publishing a layer through S3 and writing
its ARN into a *copy* of the Chalice project, the log group, the page bucket. Only
``chalice deploy`` is replaced, by ``chalice package`` (moto cannot import a REST API,
see platform-facts), whose template must carry what deploy wrote into the config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import boto3
import pytest

from stack.aws import AwsContext
from stack.aws_buckets import delete_bucket_and_contents
from stack.aws_chalice import ChaliceCli
from stack.aws_destroy import destroy
from stack.aws_state import DeployState, state_path
from stack.deploy import LAYER_NAME, DeployOptions, Toolchain, deploy
from tests.support import copy_chalice_project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_CONFIG = REPO_ROOT / "spam_api" / ".chalice" / "config.json"
FAKE_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/api/"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A copy of the Chalice project: deploy writes into it, never into the real one."""
    before = REAL_CONFIG.read_bytes()
    yield copy_chalice_project(tmp_path)
    assert REAL_CONFIG.read_bytes() == before, "the real config.json must never be written"


@pytest.fixture
def layer_zip(tmp_path: Path) -> Path:
    """A tiny layer zip: publishing is what is under test, not the layer build."""
    path = tmp_path / "tiny-layer.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("python/tiny_layer_marker.py", "MARKER = 1\n")
    return path


def _clients(endpoint: str) -> dict[str, object]:
    kw = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    return {name: boto3.client(name, **kw) for name in ("s3", "lambda", "logs", "apigateway")}


@pytest.fixture
def names(s3_endpoint: str) -> Iterator[dict[str, str]]:
    """Fresh bucket names; whatever is left of them is deleted afterwards."""
    unique = uuid.uuid4().hex[:10]
    chosen = {"bucket": f"deploy-models-{unique}", "page": f"deploy-page-{unique}"}
    yield chosen
    s3 = _clients(s3_endpoint)["s3"]
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for name in chosen.values():
        if name in existing:
            delete_bucket_and_contents(s3, name)


@dataclass
class PackagingChalice(ChaliceCli):
    """``chalice deploy`` stood in for by the real ``chalice package`` (offline).

    It records the REST API id of an API made on moto beforehand, so the steps after
    ``chalice deploy`` (stage throttling) run against moto for real.
    """

    rest_api_id: str = ""

    def deploy(self, stage: str) -> str:
        out_dir = self.project_dir.parent / f"package-{stage}"
        shutil.rmtree(out_dir, ignore_errors=True)
        self.package(stage, out_dir)
        deployed = self.project_dir / ".chalice" / "deployed" / f"{stage}.json"
        deployed.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "resources": [
                {
                    "resource_type": "rest_api",
                    "rest_api_url": FAKE_URL,
                    "rest_api_id": self.rest_api_id,
                }
            ]
        }
        deployed.write_text(json.dumps(record))
        return FAKE_URL

    def delete(self, stage: str) -> None:
        (self.project_dir / ".chalice" / "deployed" / f"{stage}.json").unlink()


def _package_env() -> dict[str, str]:
    """``chalice package`` offline: a region, and no endpoint or credentials it could use."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    return env


def _packaging_chalice(rest_api_id: str = "") -> Callable[..., PackagingChalice]:
    def make(project_dir: Path, env: dict[str, str], out: Callable[[str], None]):
        return PackagingChalice(project_dir, _package_env(), out, rest_api_id=rest_api_id)

    return make


def _moto_rest_api(apigateway) -> str:
    """A REST API with an ``api`` stage on moto: what chalice deploy would have made."""
    api_id = apigateway.create_rest_api(name="spam-api")["id"]
    root = next(r for r in apigateway.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    apigateway.put_method(
        restApiId=api_id, resourceId=root["id"], httpMethod="GET", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=api_id, resourceId=root["id"], httpMethod="GET", type="MOCK"
    )
    apigateway.create_deployment(restApiId=api_id, stageName="api")
    return api_id


@pytest.fixture
def ctx(s3_endpoint: str) -> AwsContext:
    return AwsContext(region="us-east-1", endpoint_url=s3_endpoint, out=lambda _line: None)


def test_deploy_on_moto_runs_every_step_then_reuses_then_destroys(
    ctx, project, layer_zip, names, s3_endpoint, sms_collection_path
) -> None:
    aws = _clients(s3_endpoint)
    s3, lam, logs = aws["s3"], aws["lambda"], aws["logs"]
    lines: list[str] = []
    opts = DeployOptions(
        stage="prod",
        project_dir=project,
        bucket=names["bucket"],
        data=sms_collection_path,
        train_args=("--folds", "2", "--min-mcc", "0.5"),
        layer_zip=layer_zip,
        static_bucket=names["page"],
    )
    api_id = _moto_rest_api(aws["apigateway"])
    tools = Toolchain(chalice=_packaging_chalice(api_id))

    first = deploy(opts, ctx, tools=tools, out=lines.append)

    assert first.steps["model bucket"] == "created"
    assert first.steps["model"] == "published"
    assert first.steps["layer"] == "published"
    assert first.steps["api"] == "deployed"
    bucket = names["bucket"]
    # bucket settings, read back
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
        True,
    )
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # no TLS-only policy over plain HTTP: moto enforces it and would lock us out
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket)
    # the model the trainer published
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="models/current.json")["Body"].read())
    for ref in manifest["artifacts"].values():
        s3.head_object(Bucket=bucket, Key=ref["key"])
    # the layer, and its ARN in the copy's config (not the real one: see the fixture)
    arn = first.layer_arn
    assert arn and f":layer:{LAYER_NAME}:" in arn
    version = lam.get_layer_version(LayerName=LAYER_NAME, VersionNumber=int(arn.split(":")[-1]))
    assert version["LayerVersionArn"] == arn
    config = json.loads((project / ".chalice" / "config.json").read_text())
    prod = config["stages"]["prod"]
    assert prod["layers"] == [arn]  # the placeholder ARN is gone
    page_origin = f"http://{names['page']}.s3-website-us-east-1.amazonaws.com"
    assert prod["environment_variables"]["MODEL_BUCKET"] == bucket
    assert prod["environment_variables"]["CORS_ALLOW_ORIGIN"] == page_origin
    policy = (project / ".chalice" / prod["iam_policy_file"]).read_text()
    assert f"arn:aws:s3:::{bucket}/" in policy and "spam-models-prod" not in policy
    # what chalice would deploy: the packaged template carries all of it
    template = json.loads((project.parent / "package-prod" / "sam.json").read_text())
    function = template["Resources"]["APIHandler"]["Properties"]
    assert function["Layers"] == [arn]
    assert function["Environment"]["Variables"]["MODEL_BUCKET"] == bucket
    assert bucket in json.dumps(template["Resources"]["ApiHandlerRole"])
    # log group retention
    group = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/spam-api-prod")
    assert group["logGroups"][0]["retentionInDays"] == 30
    # stage throttling, on every method
    settings = aws["apigateway"].get_stage(restApiId=api_id, stageName="api")["methodSettings"]
    assert settings["*/*"]["throttlingRateLimit"] == 50.0
    assert settings["*/*"]["throttlingBurstLimit"] == 100
    # and POST /feedback below it: reports cost storage and a reviewer's attention
    assert settings["~1feedback/POST"]["throttlingRateLimit"] == 5.0
    assert settings["~1feedback/POST"]["throttlingBurstLimit"] == 10
    # unreviewed and rejected reports expire, and so do their old versions
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    by_prefix = {rule["Filter"]["Prefix"]: rule for rule in lifecycle}
    assert set(by_prefix) == {"feedback/pending/", "feedback/rejected/"}
    for rule in by_prefix.values():
        assert rule["Status"] == "Enabled" and rule["Expiration"] == {"Days": 30}
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert first.steps["feedback expiry"] == "30 days"
    # the page bucket: website, public read, config.js naming the API
    assert first.page_url == page_origin
    s3.get_bucket_website(Bucket=names["page"])
    config_js = s3.get_object(Bucket=names["page"], Key="config.js")["Body"].read().decode()
    assert '"apiBaseUrl": "https://abc123.execute-api.us-east-1.amazonaws.com/api"' in config_js
    s3.head_object(Bucket=names["page"], Key="index.html")
    # the invoke URL and a curl line
    text = "\n".join(lines)
    assert f"Invoke URL: {FAKE_URL}" in text
    assert "curl -s -X POST https://abc123.execute-api.us-east-1.amazonaws.com/api/predict" in text

    # A second run finds everything in place and publishes nothing new.
    buckets_before = len(s3.list_buckets()["Buckets"])
    second = deploy(opts, ctx, tools=tools, out=lines.append)
    assert second.steps["model bucket"] == "reused"
    assert second.steps["feedback expiry"] == "30 days (already set)"
    assert second.steps["model"] == "exists"
    assert second.steps["layer"] == "exists"
    assert second.layer_arn == arn
    assert len(lam.list_layer_versions(LayerName=LAYER_NAME)["LayerVersions"]) >= 1
    assert len(s3.list_buckets()["Buckets"]) == buckets_before
    state = DeployState.load(state_path(project, "prod"), "prod")
    assert state.layer_version_arns == [arn]
    assert state.model_bucket_created and state.page_bucket_created

    # destroy: API, layer, its zip, log group and page go; the models stay.
    result = destroy(ctx, project, "prod", chalice_factory=_packaging_chalice(), out=lines.append)
    assert arn in result.removed
    versions = lam.list_layer_versions(LayerName=LAYER_NAME)["LayerVersions"]
    assert arn not in [v["LayerVersionArn"] for v in versions]
    remaining = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert names["page"] not in remaining
    assert bucket in remaining
    s3.head_object(Bucket=bucket, Key="models/current.json")
    assert not logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/spam-api-prod")["logGroups"]
    assert not (project / ".chalice" / "deployed" / "prod.json").exists()

    # only when asked: the model bucket, with every version
    destroy(ctx, project, "prod", delete_model_bucket=True, out=lines.append)
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not state_path(project, "prod").exists()


def test_deploy_dry_run_on_moto_creates_nothing(s3_endpoint, project, names) -> None:
    s3 = _clients(s3_endpoint)["s3"]
    before = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    before_config = (project / ".chalice" / "config.json").read_text()
    lines: list[str] = []
    ctx = AwsContext(region="us-east-1", endpoint_url=s3_endpoint, dry_run=True, out=lines.append)
    deploy(
        DeployOptions(
            stage="prod", project_dir=project, bucket=names["bucket"], static_bucket=names["page"]
        ),
        ctx,
        out=lines.append,
    )
    assert f"[dry-run] s3.create_bucket(Bucket='{names['bucket']}')" in lines
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == before
    assert (project / ".chalice" / "config.json").read_text() == before_config
    assert not state_path(project, "prod").exists()


def _stack_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m stack ARGS`` as a person types it, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "stack", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_cli_on_moto_skipping_model_and_api(s3_endpoint, project, layer_zip, names) -> None:
    """The command a person types, as a subprocess, against moto."""
    result = _stack_cli(
        *("deploy", "--stage", "prod", "--region", "us-east-1", "--endpoint-url", s3_endpoint),
        *("--bucket", names["bucket"], "--project-dir", str(project)),
        *("--layer-zip", str(layer_zip), "--skip-model", "--skip-api"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "model bucket  created" in result.stdout
    assert "model         skipped (--skip-model)" in result.stdout
    s3 = _clients(s3_endpoint)["s3"]
    assert s3.get_bucket_versioning(Bucket=names["bucket"])["Status"] == "Enabled"
    layers = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["prod"][
        "layers"
    ]
    assert len(layers) == 1 and f":layer:{LAYER_NAME}:" in layers[0]
    state = DeployState.load(state_path(project, "prod"), "prod")
    assert state.layer_version_arns == layers

    undo = _stack_cli(
        *("destroy", "--stage", "prod", "--endpoint-url", s3_endpoint),
        *("--project-dir", str(project)),
    )
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert f"removed {layers[0]}" in undo.stdout
    assert f"kept    s3://{names['bucket']}" in undo.stdout


def test_feedback_expiry_keeps_the_owners_rules_and_changes_only_when_it_must(
    s3_client, bucket
) -> None:
    from stack.aws_buckets import ensure_feedback_expiry

    owner = {
        "ID": "owner-archive",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 365},
    }
    s3_client.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [owner]}
    )
    said: list[str] = []
    assert ensure_feedback_expiry(s3_client, bucket, prefix="fb/", days=7, out=said.append)
    assert not ensure_feedback_expiry(s3_client, bucket, prefix="fb/", days=7, out=said.append)
    assert ensure_feedback_expiry(s3_client, bucket, prefix="fb/", days=14, out=said.append)
    rules = {
        r["ID"]: r for r in s3_client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    }
    assert rules["owner-archive"]["Filter"] == {"Prefix": "logs/"}
    assert rules["expire-unreviewed-feedback"]["Filter"] == {"Prefix": "fb/pending/"}
    assert rules["expire-unreviewed-feedback"]["Expiration"] == {"Days": 14}
    assert rules["expire-rejected-feedback"]["Filter"] == {"Prefix": "fb/rejected/"}
    assert len(rules) == 3 and len(said) == 2


def _set_architecture(project: Path, stage: str, arch: str) -> None:
    path = project / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    config["stages"][stage]["lambda_architecture"] = arch
    path.write_text(json.dumps(config, indent=2) + "\n")


def test_deploy_publishes_the_layer_for_the_stages_architecture(
    ctx, project, layer_zip, names, s3_endpoint, tmp_path
) -> None:
    """A layer is reused only for its own architecture; a zip built for another is refused."""
    from stack.aws import DeployError
    from stack.deploy import RUNTIME_PYTHON
    from vendor_build.build import REPORT_NAME
    from vendor_build.targets import Target

    lam = _clients(s3_endpoint)["lambda"]
    lines: list[str] = []
    opts = DeployOptions(
        stage="prod",
        project_dir=project,
        bucket=names["bucket"],
        layer_zip=layer_zip,
        skip_model=True,
        skip_api=True,
    )

    def published(arn: str) -> dict:
        return lam.get_layer_version(LayerName=LAYER_NAME, VersionNumber=int(arn.split(":")[-1]))

    first = deploy(opts, ctx, out=lines.append).layer_arn
    assert published(first)["CompatibleArchitectures"] == ["x86_64"]  # prod's setting
    assert published(first)["CompatibleRuntimes"] == [f"python{RUNTIME_PYTHON}"]
    assert deploy(opts, ctx, out=lines.append).steps["layer"] == "exists"

    _set_architecture(project, "prod", "arm64")
    x86_zip = tmp_path / "x86" / "sklearn-layer.zip"
    x86_zip.parent.mkdir()
    shutil.copyfile(layer_zip, x86_zip)
    report = {"extra": {"target": Target(RUNTIME_PYTHON, "x86_64").describe()}}
    (x86_zip.parent / REPORT_NAME).write_text(json.dumps(report))
    with pytest.raises(DeployError, match=r"built for .* on x86_64; the stage runs .* on arm64"):
        deploy(replace(opts, layer_zip=x86_zip), ctx, out=lines.append)

    second = deploy(opts, ctx, out=lines.append)
    assert second.steps["layer"] == "published" and second.layer_arn != first
    assert published(second.layer_arn)["CompatibleArchitectures"] == ["arm64"]
    assert f"layer: {first} is for ['x86_64']; the stage runs arm64: rebuilding" in lines
    destroy(ctx, project, "prod", delete_model_bucket=True, out=lines.append)

"""Deploy and destroy against a local moto server: every step moto supports runs for real.

Real here: STS, the stack's change sets (created, shown, executed; empty on a redeploy),
the layer zip uploaded and its version made by the stack, the outputs written into a
*copy* of the Chalice project, the trainer's CLI training and publishing a model, the
log group, the page bucket and its files, destroy deleting the stack and keeping the
models, and a later deploy importing the retained bucket. moto is ``tests.moto_cfn``
(moto with the CloudFormation gaps it documents filled). Only ``chalice deploy`` is
replaced, by ``chalice package`` (moto cannot import a REST API, see platform-facts),
whose template must carry what deploy wrote into the config.
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

from stack.aws.buckets import delete_bucket_and_contents
from stack.aws.chalice_project import ChaliceCli
from stack.aws.context import AwsContext, DeployError
from stack.aws.deploy import RUNTIME_PYTHON, DeployOptions, Toolchain, deploy
from stack.aws.destroy import destroy
from tests.support import copy_chalice_project, delete_stacks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[3]
REAL_CONFIG = REPO_ROOT / "spam_api" / ".chalice" / "config.json"
FAKE_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/api/"
STACK = "spam-api-prod"
LAYER_NAME = "spam-classifier-sklearn"


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
    services = ("s3", "lambda", "logs", "apigateway", "cloudformation", "cloudwatch", "sns")
    return {name: boto3.client(name, **kw) for name in services}


@pytest.fixture
def names(s3_endpoint: str) -> Iterator[dict[str, str]]:
    """Fresh bucket names; whatever is left of them, and the stack, is deleted afterwards."""
    unique = uuid.uuid4().hex[:10]
    chosen = {"bucket": f"deploy-models-{unique}", "page": f"deploy-page-{unique}"}
    yield chosen
    delete_stacks(s3_endpoint)
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
    return AwsContext(region="us-east-1", endpoint_url=s3_endpoint)


def _stack_only(project: Path, bucket: str, layer_zip: Path, **overrides) -> DeployOptions:
    """prod, its stack and layer only (no model, no chalice), confirmed by ``--yes``."""
    values = {"skip_model": True, "skip_api": True, "yes": True, **overrides}
    return DeployOptions(
        stage="prod", project_dir=project, bucket=bucket, layer_zip=layer_zip, **values
    )


def _stack(cloudformation) -> dict:
    return cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]


def _outputs(cloudformation) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in _stack(cloudformation).get("Outputs", [])}


ALARMS = {
    f"spam-api-prod-{name}"
    for name in (
        "function-errors",
        "function-throttles",
        "function-duration",
        "api-5xx",
        "api-latency",
        "no-model",
        "spam-rate",
    )
}


def _monitoring(aws: dict) -> dict:
    """The stage's alarms (by name), topic, e-mail subscriptions and dashboard, as they are."""
    alarms = {a["AlarmName"]: a for a in aws["cloudwatch"].describe_alarms()["MetricAlarms"]}
    topics = [t["TopicArn"] for t in aws["sns"].list_topics()["Topics"]]
    topic = next((arn for arn in topics if arn.endswith(":spam-api-prod-alarms")), None)
    emails = (
        [
            s["Endpoint"]
            for s in aws["sns"].list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        ]
        if topic
        else []
    )
    names = [d["DashboardName"] for d in aws["cloudwatch"].list_dashboards()["DashboardEntries"]]
    body = (
        json.loads(aws["cloudwatch"].get_dashboard(DashboardName=STACK)["DashboardBody"])
        if STACK in names
        else None
    )
    return {"alarms": alarms, "topic": topic, "emails": emails, "dashboard": body}


def test_deploy_on_moto_runs_every_step_then_changes_nothing_then_destroys(
    ctx, project, layer_zip, names, s3_endpoint, sms_collection_path
) -> None:
    aws = _clients(s3_endpoint)
    s3, lam, logs, cloudformation = aws["s3"], aws["lambda"], aws["logs"], aws["cloudformation"]
    lines: list[str] = []
    opts = DeployOptions(
        stage="prod",
        project_dir=project,
        bucket=names["bucket"],
        data=sms_collection_path,
        train_args=("--folds", "2", "--min-mcc", "0.5"),
        layer_zip=layer_zip,
        static_bucket=names["page"],
        alarm_email="ops@example.org",
        yes=True,
    )
    api_id = _moto_rest_api(aws["apigateway"])
    tools = Toolchain(chalice=_packaging_chalice(api_id))

    first = deploy(opts, ctx, tools=tools, out=lines.append)

    assert first.steps["stack"] == "created or updated"
    assert first.steps["model"] == "published"
    assert first.steps["layer"] == "published"
    assert first.steps["api"] == "deployed"
    bucket = names["bucket"]
    stack = _stack(cloudformation)
    assert stack["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    assert stack["EnableTerminationProtection"] is True  # prod
    outputs = _outputs(cloudformation)
    assert outputs["ModelBucketName"] == bucket
    # encryption is the one bucket setting moto's CloudFormation applies (template tests cover
    # the rest: versioning, public access block, lifecycle, the TLS-only policy)
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # the model the trainer published
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="models/current.json")["Body"].read())
    for ref in manifest["artifacts"].values():
        s3.head_object(Bucket=bucket, Key=ref["key"])
    # the layer: its zip in the bucket, its version made by the stack, its ARN in the config
    arn = first.layer_arn
    assert arn == outputs["LayerArn"] and ":layer:" in arn
    name, version = arn.split(":")[6:8]
    published = lam.get_layer_version(LayerName=name, VersionNumber=int(version))
    assert published["LayerVersionArn"] == arn
    assert published["CompatibleArchitectures"] == ["x86_64"]  # prod's
    assert published["CompatibleRuntimes"] == [f"python{RUNTIME_PYTHON}"]
    s3.head_object(Bucket=bucket, Key=outputs["LayerKey"])
    config = json.loads((project / ".chalice" / "config.json").read_text())
    prod = config["stages"]["prod"]
    assert prod["layers"] == [arn]  # the placeholder ARN is gone
    assert prod["environment_variables"]["MODEL_BUCKET"] == bucket
    assert prod["environment_variables"]["CORS_ALLOW_ORIGIN"] == outputs["PageUrl"]
    assert names["page"] in outputs["PageUrl"]
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
    # stage throttling, on every method, and POST /feedback below it
    settings = aws["apigateway"].get_stage(restApiId=api_id, stageName="api")["methodSettings"]
    assert settings["*/*"]["throttlingRateLimit"] == 50.0
    assert settings["*/*"]["throttlingBurstLimit"] == 100
    assert settings["~1feedback/POST"]["throttlingRateLimit"] == 5.0
    assert settings["~1feedback/POST"]["throttlingBurstLimit"] == 10
    # the page bucket: website, config.js naming the API
    assert first.page_url == outputs["PageUrl"]
    config_js = s3.get_object(Bucket=names["page"], Key="config.js")["Body"].read().decode()
    assert '"apiBaseUrl": "https://abc123.execute-api.us-east-1.amazonaws.com/api"' in config_js
    s3.head_object(Bucket=names["page"], Key="index.html")
    # the dashboard, the alarms and their topic, e-mailing the address given
    made = _monitoring(aws)
    assert set(made["alarms"]) == ALARMS
    for alarm in made["alarms"].values():
        assert alarm["AlarmActions"] == [made["topic"]] == alarm["OKActions"]
        assert alarm["TreatMissingData"] == "notBreaching"
    duration = made["alarms"]["spam-api-prod-function-duration"]
    assert (duration["Threshold"], duration["Dimensions"]) == (
        26100.0,  # prod's 30 s timeout, capped at API Gateway's 29 s, times 0.9
        [{"Name": "FunctionName", "Value": "spam-api-prod"}],
    )
    rate = made["alarms"]["spam-api-prod-spam-rate"]
    assert rate["ThresholdMetricId"] == "band"
    assert [m["Id"] for m in rate["Metrics"]] == ["spam", "scored", "rate", "band"]
    assert made["emails"] == ["ops@example.org"]
    (status,) = [w for w in made["dashboard"]["widgets"] if w["type"] == "alarm"]
    assert {arn.split(":alarm:")[1] for arn in status["properties"]["alarms"]} == ALARMS
    assert {a["AlarmArn"] for a in made["alarms"].values()} == set(status["properties"]["alarms"])
    resources = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    assert "SpamRateAnomalyDetector" in {r["LogicalResourceId"] for r in resources}
    assert first.dashboard_url == outputs["DashboardUrl"]
    assert outputs["DashboardUrl"].endswith("#dashboards/dashboard/spam-api-prod")
    # the function's metrics are keyed by what the dashboard and alarms read them by
    assert prod["environment_variables"]["STAGE_NAME"] == "prod"
    assert prod["environment_variables"]["METRICS_NAMESPACE"] == "SpamClassifier"
    assert function["Environment"]["Variables"]["STAGE_NAME"] == "prod"
    # the invoke URL and a curl line
    text = "\n".join(lines)
    assert f"Invoke URL: {FAKE_URL}" in text
    assert "curl -s -X POST https://abc123.execute-api.us-east-1.amazonaws.com/api/predict" in text
    assert f"Dashboard: {outputs['DashboardUrl']}" in lines
    assert (
        "Alarms are e-mailed to ops@example.org once it confirms AWS's subscription message"
        in lines
    )

    # A second run: an empty change set, nothing executed, nothing published.
    events = len(cloudformation.describe_stack_events(StackName=STACK)["StackEvents"])
    lines.clear()
    second = deploy(opts, ctx, tools=tools, out=lines.append)
    assert second.steps["stack"] == "no changes"
    assert "  (no changes)" in lines
    assert second.steps["model"] == "exists"
    assert second.steps["layer"] == "exists"
    assert second.layer_arn == arn
    assert len(cloudformation.describe_stack_events(StackName=STACK)["StackEvents"]) == events
    assert not any(line.startswith("stack spam-api-prod: executing") for line in lines)
    # without --static-bucket and --alarm-email the stack keeps its page bucket and its
    # address, and the page is refreshed
    third = deploy(
        replace(opts, static_bucket=None, alarm_email=None), ctx, tools=tools, out=lines.append
    )
    assert third.steps["stack"] == "no changes" and third.steps["page"] == "uploaded"
    assert third.page_url == outputs["PageUrl"]
    assert _monitoring(aws)["emails"] == ["ops@example.org"]

    # destroy: the protected stack asks; the API, the stack (layer, log group, page) go;
    # the models stay.
    refused = []
    with pytest.raises(DeployError, match="not confirmed"):
        destroy(
            ctx, project, "prod", confirm=lambda q: refused.append(q) or False, out=lines.append
        )
    assert refused and _stack(cloudformation)  # still there
    result = destroy(
        ctx, project, "prod", yes=True, chalice_factory=_packaging_chalice(), out=lines.append
    )
    assert f"stack {STACK} (with s3://{names['page']})" in result.removed
    with pytest.raises(cloudformation.exceptions.ClientError, match="does not exist"):
        _stack(cloudformation)
    assert arn not in [
        v["LayerVersionArn"]
        for layer in lam.list_layers()["Layers"]
        for v in lam.list_layer_versions(LayerName=layer["LayerName"])["LayerVersions"]
    ]
    remaining = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert names["page"] not in remaining
    assert bucket in remaining
    s3.head_object(Bucket=bucket, Key="models/current.json")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="layers/")  # zips go
    assert not logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/spam-api-prod")["logGroups"]
    assert not (project / ".chalice" / "deployed" / "prod.json").exists()
    assert _monitoring(aws) == {"alarms": {}, "topic": None, "emails": [], "dashboard": None}

    # A later deploy adopts the retained bucket (an import), with its models.
    lines.clear()
    again = deploy(replace(opts, static_bucket=None), ctx, tools=tools, out=lines.append)
    assert any(
        line.startswith("adopting what exists outside any stack: ModelBucket") for line in lines
    )
    assert again.steps["model"] == "exists"
    assert _outputs(cloudformation)["ModelBucketName"] == bucket

    # only when asked: the model bucket, with every version
    destroy(
        ctx,
        project,
        "prod",
        yes=True,
        delete_model_bucket=True,
        chalice_factory=_packaging_chalice(),
        out=lines.append,
    )
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_deploy_dry_run_on_moto_shows_the_change_set_and_changes_nothing(
    ctx, s3_endpoint, project, names
) -> None:
    aws = _clients(s3_endpoint)
    s3, cloudformation = aws["s3"], aws["cloudformation"]
    before = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    before_config = (project / ".chalice" / "config.json").read_text()
    lines: list[str] = []
    opts = DeployOptions(
        stage="prod",
        project_dir=project,
        bucket=names["bucket"],
        static_bucket=names["page"],
        dry_run=True,
    )
    result = deploy(opts, ctx, out=lines.append)
    text = "\n".join(lines)
    for logical in (
        *("ModelBucket", "FunctionLogGroup", "PageBucket", "AlarmTopic", "Dashboard"),
        *("NoModelAlarm", "SpamRateAlarm", "SpamRateAnomalyDetector", "FunctionDurationAlarm"),
    ):
        assert f"Add     {logical} (" in text, logical
    shown = [line for line in lines if line.startswith("  Add ")]
    assert result.steps["dry run"] == f"{len(shown)} changes" and shown
    assert "then a new layer for x86_64 (built, uploaded, and put in by another change set)" in text
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == before
    assert (project / ".chalice" / "config.json").read_text() == before_config
    with pytest.raises(cloudformation.exceptions.ClientError, match="does not exist"):
        _stack(cloudformation)


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
    """The command a person types, as a subprocess, against moto (dev: no confirmation)."""
    result = _stack_cli(
        *("deploy", "--stage", "dev", "--region", "us-east-1", "--endpoint-url", s3_endpoint),
        *("--bucket", names["bucket"], "--project-dir", str(project)),
        *("--layer-zip", str(layer_zip), "--skip-model", "--skip-api"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stack       created or updated" in result.stdout
    assert "model       skipped (--skip-model)" in result.stdout
    layers = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["dev"][
        "layers"
    ]
    assert len(layers) == 1 and ":layer:" in layers[0]
    assert "000000000000" not in layers[0]

    undo = _stack_cli(
        *("destroy", "--stage", "dev", "--region", "us-east-1", "--endpoint-url", s3_endpoint),
        *("--project-dir", str(project)),
    )
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert "removed stack spam-api-dev" in undo.stdout
    assert f"kept    s3://{names['bucket']}" in undo.stdout


def _set_architecture(project: Path, stage: str, arch: str) -> None:
    path = project / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    config["stages"][stage]["lambda_architecture"] = arch
    path.write_text(json.dumps(config, indent=2) + "\n")


def test_deploy_replaces_the_layer_when_the_stage_changes_architecture(
    ctx, project, layer_zip, names, s3_endpoint, tmp_path
) -> None:
    """The stack's layer is kept only for its architecture; a zip built for another is refused."""
    from vendor_build.build import REPORT_NAME
    from vendor_build.targets import Target

    cloudformation = _clients(s3_endpoint)["cloudformation"]
    lines: list[str] = []
    opts = _stack_only(project, names["bucket"], layer_zip)
    first = deploy(opts, ctx, out=lines.append)
    assert _outputs(cloudformation)["LayerArchitecture"] == "x86_64"  # prod's setting
    assert deploy(replace(opts, layer_zip=None), ctx, out=lines.append).steps["layer"] == "exists"

    _set_architecture(project, "prod", "arm64")
    x86_zip = tmp_path / "x86" / "sklearn-layer.zip"
    x86_zip.parent.mkdir()
    shutil.copyfile(layer_zip, x86_zip)
    report = {"extra": {"target": Target(RUNTIME_PYTHON, "x86_64").describe()}}
    (x86_zip.parent / REPORT_NAME).write_text(json.dumps(report))
    with pytest.raises(DeployError, match=r"built for .* on x86_64; the stage runs .* on arm64"):
        deploy(replace(opts, layer_zip=x86_zip), ctx, out=lines.append)

    built: list[str] = []
    arm_zip = tmp_path / "arm64" / "sklearn-layer.zip"
    arm_zip.parent.mkdir()
    with zipfile.ZipFile(arm_zip, "w") as zf:
        zf.writestr("python/tiny_layer_marker.py", "MARKER = 'arm64'\n")

    def build(_out, arch: str) -> Path:
        built.append(arch)
        return arm_zip

    old_key = _outputs(cloudformation)["LayerKey"]
    second = deploy(
        replace(opts, layer_zip=None), ctx, tools=Toolchain(build_layer=build), out=lines.append
    )
    assert built == ["arm64"]
    assert second.steps["layer"] == "published"
    outputs = _outputs(cloudformation)
    assert outputs["LayerArchitecture"] == "arm64"
    assert second.layer_arn == outputs["LayerArn"] != first.layer_arn
    s3 = _clients(s3_endpoint)["s3"]
    s3.head_object(Bucket=names["bucket"], Key=outputs["LayerKey"])
    with pytest.raises(s3.exceptions.ClientError, match="404"):  # its version is gone with it
        s3.head_object(Bucket=names["bucket"], Key=old_key)
    destroy(ctx, project, "prod", yes=True, delete_model_bucket=True, out=lines.append)


def test_a_stage_deployed_before_the_stack_is_adopted_with_its_models(
    ctx, project, layer_zip, names, s3_endpoint
) -> None:
    """Today's deploy left a bucket, a log group and layer versions outside any stack."""
    aws = _clients(s3_endpoint)
    s3, logs, lam = aws["s3"], aws["logs"], aws["lambda"]
    bucket = names["bucket"]
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/keep-me.txt", Body=b"a model of the old deploy")
    logs.create_log_group(logGroupName="/aws/lambda/spam-api-prod")
    old = lam.publish_layer_version(
        LayerName="spam-classifier-sklearn", Content={"ZipFile": layer_zip.read_bytes()}
    )["LayerVersionArn"]
    extras = project / ".chalice" / "deployed" / "prod-extras.json"
    extras.parent.mkdir(parents=True, exist_ok=True)
    record = {"layer_version_arns": [old], "layer_objects": [{"bucket": bucket, "key": "l.zip"}]}
    extras.write_text(json.dumps(record))
    lines: list[str] = []
    deploy(_stack_only(project, bucket, layer_zip), ctx, out=lines.append)

    assert "adopting what exists outside any stack: ModelBucket, FunctionLogGroup" in "\n".join(
        lines
    )
    assert _outputs(aws["cloudformation"])["ModelBucketName"] == bucket
    assert s3.get_object(Bucket=bucket, Key="models/keep-me.txt")["Body"].read()
    version = old.split(":")[-1]
    command = (
        "  aws lambda delete-layer-version --layer-name spam-classifier-sklearn "
        f"--version-number {version}"
    )
    assert command in lines
    assert f"  aws s3 rm s3://{bucket}/l.zip" in lines
    destroy(ctx, project, "prod", yes=True, out=lines.append)
    assert s3.get_object(Bucket=bucket, Key="models/keep-me.txt")  # kept by the Retain policy


def test_a_first_prod_deploy_that_is_not_confirmed_leaves_nothing(
    ctx, project, layer_zip, names, s3_endpoint
) -> None:
    aws = _clients(s3_endpoint)
    asked: list[str] = []
    opts = _stack_only(project, names["bucket"], layer_zip, yes=False)
    tools = Toolchain(confirm=lambda question: asked.append(question) or False)
    with pytest.raises(DeployError, match="not confirmed"):
        deploy(opts, ctx, tools=tools, out=lambda _l: None)
    assert len(asked) == 1
    with pytest.raises(aws["cloudformation"].exceptions.ClientError, match="does not exist"):
        _stack(aws["cloudformation"])  # not even the change set's empty stack
    assert names["bucket"] not in {b["Name"] for b in aws["s3"].list_buckets()["Buckets"]}
    # and destroy finds nothing to remove
    result = destroy(ctx, project, "prod", out=lambda _l: None)
    assert result.removed == [] and result.kept == []


def test_alarm_email_is_kept_changed_and_removed_and_destroy_dry_run_lists_the_alarms(
    ctx, project, layer_zip, names, s3_endpoint
) -> None:
    aws = _clients(s3_endpoint)
    lines: list[str] = []
    opts = _stack_only(project, names["bucket"], layer_zip, alarm_email="ops@example.org")
    deploy(opts, ctx, out=lines.append)
    assert _monitoring(aws)["emails"] == ["ops@example.org"]
    # kept when not given, replaced when another is given
    again = replace(opts, layer_zip=None, alarm_email=None)
    assert deploy(again, ctx, out=lines.append).steps["stack"] == "no changes"
    deploy(replace(again, alarm_email="oncall@example.org"), ctx, out=lines.append)
    assert _monitoring(aws)["emails"] == ["oncall@example.org"]
    assert _stack_parameters(aws["cloudformation"])["AlarmEmail"] == "oncall@example.org"
    # '' stops the e-mails; the topic and the alarms stay
    deploy(replace(again, alarm_email=""), ctx, out=lines.append)
    left = _monitoring(aws)
    assert left["emails"] == [] and left["topic"] and set(left["alarms"]) == ALARMS
    assert deploy(again, ctx, out=lines.append).steps["stack"] == "no changes"
    assert _monitoring(aws)["emails"] == []

    lines.clear()
    planned = destroy(ctx, project, "prod", dry_run=True, out=lines.append)
    kinds = [item.rsplit(" (", 1)[1].rstrip(")") for item in planned.removed]
    assert kinds.count("AWS::CloudWatch::Alarm") == 7
    for kind in (
        "AWS::CloudWatch::Dashboard",
        "AWS::CloudWatch::AnomalyDetector",
        "AWS::SNS::Topic",
    ):
        assert kind in kinds, kind
    assert "would remove spam-api-prod-spam-rate (AWS::CloudWatch::Alarm)" in lines
    assert set(_monitoring(aws)["alarms"]) == ALARMS  # a dry run removes nothing
    destroy(ctx, project, "prod", yes=True, delete_model_bucket=True, out=lines.append)
    assert _monitoring(aws)["alarms"] == {}


def _stack_parameters(cloudformation) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in _stack(cloudformation)["Parameters"]}


def _stage_capture(project: Path) -> tuple[dict[str, str], list[dict]]:
    """prod's CAPTURE_* variables in config.json, and its policy's capture statements."""
    config = json.loads((project / ".chalice" / "config.json").read_text())
    prod = config["stages"]["prod"]
    env = {k: v for k, v in prod["environment_variables"].items() if k.startswith("CAPTURE_")}
    policy = json.loads((project / ".chalice" / prod["iam_policy_file"]).read_text())
    grants = [s for s in policy["Statement"] if "capture/" in json.dumps(s)]
    return env, grants


def test_capture_rates_are_written_kept_by_later_deploys_and_turned_off(
    ctx, project, layer_zip, names, s3_endpoint
) -> None:
    aws = _clients(s3_endpoint)
    lines: list[str] = []
    bucket = names["bucket"]
    opts = _stack_only(project, bucket, layer_zip, capture_rate=0.01)
    deploy(opts, ctx, out=lines.append)
    env, grants = _stage_capture(project)
    assert env == {"CAPTURE_RATE": "0.01", "CAPTURE_UNCERTAIN_RATE": "0"}
    assert [g["Resource"] for g in grants] == [[f"arn:aws:s3:::{bucket}/capture/pending/*"]]
    held = _stack_parameters(aws["cloudformation"])
    assert (held["CaptureRate"], held["CaptureUncertainRate"]) == ("0.01", "0")
    assert (held["CapturePrefix"], held["CaptureRetentionDays"]) == ("capture/", "30")
    assert "config: stage 'prod''s role may create capture/pending/*" in lines

    # kept without the options, even from a checkout whose config.json lost them
    again = replace(opts, layer_zip=None, capture_rate=None)
    assert deploy(again, ctx, out=lines.append).steps["stack"] == "no changes"
    assert _stage_capture(project)[0] == env
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    for name in env:
        del config["stages"]["prod"]["environment_variables"][name]
    config_path.write_text(json.dumps(config))
    deploy(again, ctx, out=lines.append)
    assert _stage_capture(project) == (env, grants)

    # the uncertain stratum alone, then off: the variables and the grant go
    deploy(replace(again, capture_uncertain_rate=0.5), ctx, out=lines.append)
    assert _stage_capture(project)[0] == {"CAPTURE_RATE": "0", "CAPTURE_UNCERTAIN_RATE": "0.5"}
    lines.clear()
    deploy(replace(again, capture_rate=0.0), ctx, out=lines.append)
    assert _stage_capture(project) == ({}, [])
    held = _stack_parameters(aws["cloudformation"])
    assert (held["CaptureRate"], held["CaptureUncertainRate"]) == ("0", "0")
    assert "config: stage 'prod''s role no longer writes captures" in lines
    deploy(again, ctx, out=lines.append)  # and off stays off
    assert _stage_capture(project) == ({}, [])

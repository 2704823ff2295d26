"""Deploy and destroy without AWS: stubbed clients, the dry run, and the failure messages.

A bucket owned by another account cannot be made on moto (everything there is ours), so
those answers come from botocore's ``Stubber``: it also fails the test on any call we
did not expect, which is how "nothing was created" is proven.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from stack import aws_buckets, deploy, handoff
from stack.aws import AwsContext, DeployError, DryRunClient, make_context, resolve_region
from stack.aws_state import DeployState, state_path

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal Chalice project: just a config with the stages deploy looks at."""
    root = tmp_path / "project"
    (root / ".chalice").mkdir(parents=True)
    config = {
        "version": "2.0",
        "app_name": "spam-api",
        "stages": {"prod": {"environment_variables": {"MODEL_PREFIX": "models/"}}},
    }
    (root / ".chalice" / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return root


def _client(service: str):
    return boto3.client(
        service,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _stubbed_context(**clients) -> AwsContext:
    ctx = AwsContext(region="eu-west-1", out=lambda _line: None)
    ctx._clients.update(clients)
    return ctx


def _identity_stub(sts) -> Stubber:
    stub = Stubber(sts)
    stub.add_response(
        "get_caller_identity",
        {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/dev", "UserId": "AIDA"},
    )
    return stub


# --- region and credentials --------------------------------------------------------------


def test_deploy_missing_region_is_a_clear_error(monkeypatch, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(DeployError, match="no AWS region: pass --region"):
        resolve_region(None, {"AWS_CONFIG_FILE": str(empty)})


def test_deploy_unknown_region_is_a_clear_error() -> None:
    with pytest.raises(DeployError, match="unknown AWS region 'eu-west-9'"):
        make_context(region="eu-west-9")


def test_deploy_region_from_environment_is_used() -> None:
    assert resolve_region(None, {"AWS_REGION": "eu-central-1"}) == "eu-central-1"
    assert resolve_region("us-west-2", {"AWS_REGION": "eu-central-1"}) == "us-west-2"


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stack", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _bare_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine with no AWS credentials and no AWS config at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(tmp_path),
    )
    return env


def test_deploy_cli_without_credentials_fails_before_creating_anything(project, tmp_path) -> None:
    before = (project / ".chalice" / "config.json").read_text()
    result = _run_cli(
        ["deploy", "--stage", "prod", "--region", "eu-west-1", "--project-dir", str(project)],
        _bare_env(tmp_path),
    )
    assert result.returncode == 2, result.stderr
    assert "no AWS credentials found" in result.stderr
    assert "Traceback" not in result.stderr
    assert (project / ".chalice" / "config.json").read_text() == before
    assert not state_path(project, "prod").exists()


def test_deploy_cli_without_region_fails_clearly(project, tmp_path) -> None:
    result = _run_cli(
        ["deploy", "--stage", "prod", "--project-dir", str(project)], _bare_env(tmp_path)
    )
    assert result.returncode == 2
    assert "no AWS region" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_cli_with_unreachable_endpoint_fails_clearly(project, tmp_path) -> None:
    from stack.local import free_port

    env = {**_bare_env(tmp_path), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    closed = f"http://127.0.0.1:{free_port()}"
    result = _run_cli(
        [
            *("deploy", "--stage", "prod", "--region", "eu-west-1", "--endpoint-url", closed),
            *("--project-dir", str(project)),
        ],
        env,
    )
    assert result.returncode == 2
    assert "cannot reach AWS STS" in result.stderr
    assert not state_path(project, "prod").exists()


def test_deploy_rejected_credentials_are_reported() -> None:
    sts = _client("sts")
    with Stubber(sts) as stub:
        stub.add_client_error(
            "get_caller_identity", "InvalidClientTokenId", "bad token", http_status_code=403
        )
        with pytest.raises(DeployError, match="AWS rejected these credentials"):
            from stack.aws import preflight

            preflight(_stubbed_context(sts=sts))


def test_deploy_unknown_stage_is_reported(project) -> None:
    ctx = _stubbed_context()
    with pytest.raises(DeployError, match="stage 'staging' is not in"):
        deploy.deploy(deploy.DeployOptions(stage="staging", project_dir=project), ctx)


# --- buckets owned by someone else ------------------------------------------------------


def test_deploy_bucket_of_another_account_stops_before_anything_is_created(project) -> None:
    sts, s3 = _client("sts"), _client("s3")
    before = (project / ".chalice" / "config.json").read_text()
    with _identity_stub(sts), Stubber(s3) as s3_stub:
        s3_stub.add_client_error(
            "head_bucket",
            service_error_code="403",
            service_message="Forbidden",
            http_status_code=403,
            expected_params={"Bucket": "taken-name", "ExpectedBucketOwner": ACCOUNT},
        )
        with pytest.raises(DeployError, match="'taken-name' exists but is not yours"):
            deploy.deploy(
                deploy.DeployOptions(stage="prod", project_dir=project, bucket="taken-name"),
                _stubbed_context(sts=sts, s3=s3),
            )
        s3_stub.assert_no_pending_responses()  # and Stubber refused any other call
    assert (project / ".chalice" / "config.json").read_text() == before
    assert not state_path(project, "prod").exists()


def test_deploy_taken_page_bucket_is_caught_in_the_preflight_too(project) -> None:
    sts, s3 = _client("sts"), _client("s3")
    with _identity_stub(sts), Stubber(s3) as s3_stub:
        s3_stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        s3_stub.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        with pytest.raises(DeployError, match=r"'www\.example\.com' exists but is not yours"):
            deploy.deploy(
                deploy.DeployOptions(
                    stage="prod", project_dir=project, static_bucket="www.example.com"
                ),
                _stubbed_context(sts=sts, s3=s3),
            )
    assert not state_path(project, "prod").exists()


def test_deploy_bucket_name_race_lost_at_create_time_is_reported() -> None:
    s3 = _client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("create_bucket", "BucketAlreadyExists", http_status_code=409)
        with pytest.raises(DeployError, match="taken by another AWS account"):
            aws_buckets.ensure_model_bucket(
                s3, "raced", region="eu-west-1", state="missing", out=lambda _l: None
            )


def test_deploy_bucket_in_another_region_is_reported() -> None:
    s3 = _client("s3")
    with Stubber(s3) as stub:
        stub.add_response(
            "head_bucket",
            {"BucketRegion": "us-east-2"},
            {"Bucket": "mine", "ExpectedBucketOwner": ACCOUNT},
        )
        with pytest.raises(DeployError, match="is in us-east-2, not eu-west-1"):
            aws_buckets.check_bucket(s3, "mine", region="eu-west-1", account=ACCOUNT)


def test_deploy_reused_bucket_keeps_its_own_encryption() -> None:
    """A bucket with its own KMS key is not downgraded to SSE-S3; only gaps are filled."""
    s3 = _client("s3")
    with Stubber(s3) as stub:
        stub.add_response("get_bucket_versioning", {"Status": "Suspended"})
        stub.add_response("put_bucket_versioning", {})
        stub.add_response(
            "get_public_access_block",
            {"PublicAccessBlockConfiguration": aws_buckets.BLOCK_ALL_PUBLIC_ACCESS},
        )
        stub.add_response(
            "get_bucket_encryption",
            {
                "ServerSideEncryptionConfiguration": {
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
                }
            },
        )
        created = aws_buckets.ensure_model_bucket(
            s3, "mine", region="eu-west-1", state="ours", out=lambda _l: None
        )
        stub.assert_no_pending_responses()
    assert created is False


def test_deploy_concurrency_quota_too_small_stops_before_anything(project) -> None:
    """A new account (10 concurrent executions in all) cannot reserve any for the API."""
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["prod"]["reserved_concurrency"] = 10
    config_path.write_text(json.dumps(config))
    sts, s3, lam = _client("sts"), _client("s3"), _client("lambda")
    with _identity_stub(sts), Stubber(s3) as s3_stub, Stubber(lam) as lam_stub:
        s3_stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        lam_stub.add_response(
            "get_account_settings",
            {"AccountLimit": {"ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10}},
        )
        lam_stub.add_client_error(
            "get_function_concurrency", "ResourceNotFoundException", http_status_code=404
        )
        with pytest.raises(DeployError, match="can reserve only 0 more"):
            deploy.deploy(
                deploy.DeployOptions(stage="prod", project_dir=project),
                _stubbed_context(sts=sts, s3=s3, **{"lambda": lam}),
            )
    assert not state_path(project, "prod").exists()


# --- dry run -----------------------------------------------------------------------------


def test_deploy_dry_run_prints_every_call_and_makes_none(project) -> None:
    lines: list[str] = []
    ctx = AwsContext(region="eu-west-1", dry_run=True, out=lines.append)
    before = (project / ".chalice" / "config.json").read_text()
    deploy.deploy(
        deploy.DeployOptions(stage="prod", project_dir=project, static_bucket="spam-page-example"),
        ctx,
        out=lines.append,
    )
    text = "\n".join(lines)
    for call in (
        "sts.get_caller_identity()",
        "s3.head_bucket(Bucket='spam-classifier-<account-id>-eu-west-1'",
        "s3.create_bucket(Bucket='spam-classifier-<account-id>-eu-west-1', "
        "CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})",
        "s3.put_bucket_versioning(",
        "s3.put_public_access_block(",
        "s3.put_bucket_encryption(",
        "s3.put_bucket_policy(Bucket='spam-classifier-<account-id>-eu-west-1', Policy=",
        "s3.put_bucket_lifecycle_configuration(Bucket='spam-classifier-<account-id>-eu-west-1'",
        "'Filter': {'Prefix': 'feedback/pending/'}",
        "'path': '/~1feedback/POST/throttling/rateLimit', 'value': '5.0'",
        "would read s3://spam-classifier-<account-id>-eu-west-1/models/current.json and "
        "models/live/sklearn-",  # the model guard
        "would train",
        "then s3.put_object(Key='models/live/sklearn-",  # the new model's live pointer
        "lambda.publish_layer_version(LayerName='spam-classifier-sklearn'",
        "logs.create_log_group(logGroupName='/aws/lambda/spam-api-prod')",
        "logs.put_retention_policy(logGroupName='/aws/lambda/spam-api-prod', retentionInDays=30)",
        "would run: chalice deploy --stage prod",
        "apigateway.import_rest_api",
        "apigateway.update_stage(restApiId='<rest-api-id>', stageName='api', patchOperations=",
        "s3.put_bucket_website(Bucket='spam-page-example'",
        "s3.put_object(Bucket='spam-page-example', Key='config.js'",
    ):
        assert call in text, call
    assert all(isinstance(c, DryRunClient) for c in ctx._clients.values())
    assert (project / ".chalice" / "config.json").read_text() == before
    assert not state_path(project, "prod").exists()


def test_deploy_dry_run_cli_needs_no_credentials(project, tmp_path) -> None:
    result = _run_cli(
        [
            *("deploy", "--stage", "prod", "--region", "eu-west-1", "--dry-run"),
            *("--project-dir", str(project)),
        ],
        _bare_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "[dry-run] s3.create_bucket(" in result.stdout
    assert not state_path(project, "prod").exists()


def test_destroy_dry_run_lists_what_would_go(project) -> None:
    from stack.aws_destroy import destroy

    state = DeployState(
        stage="prod",
        region="eu-west-1",
        model_bucket="models-bucket",
        model_bucket_created=True,
        layer_version_arns=[f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:spam-sklearn-prod:3"],
        layer_objects=[{"bucket": "models-bucket", "key": "layers/sklearn-layer.zip"}],
    )
    state.save(state_path(project, "prod"))
    lines: list[str] = []
    ctx = AwsContext(region="eu-west-1", dry_run=True, out=lines.append)
    destroy(ctx, project, "prod", delete_model_bucket=False, out=lines.append)
    text = "\n".join(lines)
    assert "lambda.delete_layer_version(LayerName='spam-sklearn-prod', VersionNumber=3)" in text
    assert "s3.delete_object(Bucket='models-bucket', Key='layers/sklearn-layer.zip')" in text
    assert "kept    s3://models-bucket" in text
    assert "delete_bucket" not in text
    assert DeployState.load(state_path(project, "prod"), "prod") == state  # untouched


def test_deploy_unknown_profile_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    with pytest.raises(DeployError, match="AWS profile 'nobody' is not configured"):
        resolve_region(None, {"AWS_PROFILE": "nobody"})


def test_destroy_with_nothing_recorded_does_nothing(project) -> None:
    from stack.aws_destroy import destroy

    lines: list[str] = []
    result = destroy(AwsContext(region="us-east-1"), project, "prod", out=lines.append)
    assert result.removed == [] and "nothing to remove" in lines[0]


def test_destroy_refuses_another_region(project) -> None:
    from stack.aws_destroy import destroy

    DeployState(stage="prod", region="eu-west-1").save(state_path(project, "prod"))
    with pytest.raises(DeployError, match="--region eu-west-1"):
        destroy(AwsContext(region="us-east-1", dry_run=True), project, "prod")


# --- small pure helpers --------------------------------------------------------------------


def test_deploy_curl_line_and_page_config() -> None:
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/api/"
    line = handoff.curl_line(url)
    assert line.startswith(
        "curl -s -X POST https://abc123.execute-api.eu-west-1.amazonaws.com/api/predict "
    )
    assert "'Content-Type: application/json'" in line
    js = handoff.page_config_js(url, command="deploy")
    assert '"apiBaseUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/api"' in js
    assert js.startswith("//") and "window.SPAM_CLASSIFIER_CONFIG = {" in js


def test_deploy_website_url_by_region() -> None:
    assert (
        aws_buckets.website_url("p", "us-east-1") == "http://p.s3-website-us-east-1.amazonaws.com"
    )
    assert (
        aws_buckets.website_url("p", "eu-central-1")
        == "http://p.s3-website.eu-central-1.amazonaws.com"
    )


def test_deploy_and_destroy_are_subcommands() -> None:
    from stack.__main__ import build_parser

    args = build_parser().parse_args(["deploy", "--stage", "prod", "--dry-run"])
    assert (args.stage, args.dry_run) == ("prod", True)
    args = build_parser().parse_args(["destroy", "--stage", "prod", "--delete-model-bucket"])
    assert args.delete_model_bucket is True


# --- what deploy writes into the Chalice project ---------------------------------------


def test_deploy_config_edits_are_idempotent_and_keep_foreign_layers(project) -> None:
    from stack.aws_state import drop_stale_layers, point_policy_at_bucket, set_stage_environment

    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    public = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3:7"
    config["stages"]["prod"]["layers"] = [
        "arn:aws:lambda:us-east-1:000000000000:layer:placeholder:1",
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:spam-classifier-sklearn:4",
        public,
    ]
    config["stages"]["prod"]["iam_policy_file"] = "policy-prod.json"
    config_path.write_text(json.dumps(config))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::old/m/*"},
            {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": ["arn:aws:logs:*"]},
        ],
    }
    (project / ".chalice" / "policy-prod.json").write_text(json.dumps(policy))

    ours = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:"
    assert len(drop_stale_layers(project, "prod", "spam-classifier-sklearn", ours)) == 2
    assert drop_stale_layers(project, "prod", "spam-classifier-sklearn", ours) == []
    assert json.loads(config_path.read_text())["stages"]["prod"]["layers"] == [public]

    assert point_policy_at_bucket(project, "prod", "new-bucket") is not None
    assert point_policy_at_bucket(project, "prod", "new-bucket") is None
    written = json.loads((project / ".chalice" / "policy-prod.json").read_text())
    assert written["Statement"][0]["Resource"] == "arn:aws:s3:::new-bucket/m/*"
    assert written["Statement"][1]["Resource"] == ["arn:aws:logs:*"]

    assert set_stage_environment(project, "prod", {"MODEL_BUCKET": "new-bucket"}) is True
    assert set_stage_environment(project, "prod", {"MODEL_BUCKET": "new-bucket"}) is False
    env = json.loads(config_path.read_text())["stages"]["prod"]["environment_variables"]
    assert env == {"MODEL_PREFIX": "models/", "MODEL_BUCKET": "new-bucket"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_deploy_dry_run_builds_and_publishes_for_the_stages_architecture(
    tmp_path: Path, stage: str
) -> None:
    real = Path(__file__).resolve().parents[2] / "spam_api" / ".chalice" / "config.json"
    project = tmp_path / "project"
    (project / ".chalice").mkdir(parents=True)
    (project / ".chalice" / "config.json").write_text(real.read_text())
    arch = json.loads(real.read_text())["stages"][stage]["lambda_architecture"]
    lines: list[str] = []
    ctx = AwsContext(region="eu-west-1", dry_run=True, out=lines.append)
    deploy.deploy(deploy.DeployOptions(stage=stage, project_dir=project), ctx, out=lines.append)
    text = "\n".join(lines)
    assert f"python -m vendor_build build --arch {arch}" in text
    assert f"python -m vendor_build verify --arch {arch}" in text
    assert (
        f"CompatibleRuntimes=['python{deploy.RUNTIME_PYTHON}'], "
        f"CompatibleArchitectures=[{arch!r}])" in text
    )

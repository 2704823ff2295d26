"""Deploy and destroy without AWS: stubbed clients, the plan, and the failure messages.

A bucket owned by another account cannot be made on moto (everything there is ours), and
moto's CloudFormation neither marks an unchanged change set FAILED nor fails a resource,
so those answers come from botocore's ``Stubber``: it checks every request against the
service's model and fails the test on any call we did not expect, which is how "nothing
was created" is proven.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from stack import handoff
from stack.aws import buckets, cfn, deploy
from stack.aws.context import AwsContext, DeployError, make_context, resolve_region
from stack.aws.destroy import destroy

REPO_ROOT = Path(__file__).resolve().parents[3]
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
    """A context whose clients are the given ones; any other service gets a stub that
    refuses every call (a Stubber with no responses), so no test can reach AWS."""
    ctx = AwsContext(region="eu-west-1")
    for service in ("sts", "s3", "lambda", "logs", "cloudformation", "apigateway"):
        if service not in clients:
            clients[service] = _client(service)
            Stubber(clients[service]).activate()
    ctx._clients.update(clients)
    return ctx


def _no_stack(cloudformation) -> Stubber:
    stub = Stubber(cloudformation)
    stub.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id spam-api-prod does not exist"
    )
    return stub


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


def test_deploy_cli_without_region_fails_clearly(project, tmp_path) -> None:
    result = _run_cli(
        ["deploy", "--stage", "prod", "--project-dir", str(project)], _bare_env(tmp_path)
    )
    assert result.returncode == 2
    assert "no AWS region" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_cli_with_unreachable_endpoint_fails_clearly(project, tmp_path) -> None:
    from stack.local.services import free_port

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


def test_deploy_rejected_credentials_are_reported() -> None:
    sts = _client("sts")
    with Stubber(sts) as stub:
        stub.add_client_error(
            "get_caller_identity", "InvalidClientTokenId", "bad token", http_status_code=403
        )
        with pytest.raises(DeployError, match="AWS rejected these credentials"):
            from stack.aws.context import preflight

            preflight(_stubbed_context(sts=sts))


def test_deploy_unknown_stage_is_reported(project) -> None:
    ctx = _stubbed_context()
    with pytest.raises(DeployError, match="stage 'staging' is not in"):
        deploy.deploy(deploy.DeployOptions(stage="staging", project_dir=project), ctx)


# --- buckets owned by someone else ------------------------------------------------------


def test_deploy_bucket_of_another_account_stops_before_anything_is_created(project) -> None:
    sts, s3, cloudformation = _client("sts"), _client("s3"), _client("cloudformation")
    before = (project / ".chalice" / "config.json").read_text()
    with _identity_stub(sts), _no_stack(cloudformation) as cfn_stub, Stubber(s3) as s3_stub:
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
                _stubbed_context(sts=sts, s3=s3, cloudformation=cloudformation),
            )
        s3_stub.assert_no_pending_responses()  # and Stubber refused any other call
        cfn_stub.assert_no_pending_responses()  # the stack was only read
    assert (project / ".chalice" / "config.json").read_text() == before


def test_deploy_taken_page_bucket_is_caught_in_the_preflight_too(project) -> None:
    sts, s3, cloudformation = _client("sts"), _client("s3"), _client("cloudformation")
    with _identity_stub(sts), _no_stack(cloudformation), Stubber(s3) as s3_stub:
        s3_stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        s3_stub.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        with pytest.raises(DeployError, match=r"'www\.example\.com' exists but is not yours"):
            deploy.deploy(
                deploy.DeployOptions(
                    stage="prod", project_dir=project, static_bucket="www.example.com"
                ),
                _stubbed_context(sts=sts, s3=s3, cloudformation=cloudformation),
            )
        s3_stub.assert_no_pending_responses()


def test_deploy_failed_stack_change_shows_the_failed_events() -> None:
    """A bucket name lost to a race after the preflight: the stack rolls back, and says why."""
    cloudformation = _client("cloudformation")
    since = datetime.now(UTC)
    with Stubber(cloudformation) as stub:
        stub.add_response("execute_change_set", {})
        stub.add_response(
            "describe_stacks",
            {"Stacks": [_stack_description("ROLLBACK_COMPLETE")]},
        )
        stub.add_response(
            "describe_stack_events",
            {
                "StackEvents": [
                    _event("ModelBucket", "CREATE_FAILED", "raced already exists", since),
                    _event("spam-api-prod", "CREATE_IN_PROGRESS", "User Initiated", since),
                ]
            },
        )
        change_set = cfn.ChangeSet("spam-api-prod", "cs", "CREATE", [("Add", "M", "T", "")])
        with pytest.raises(DeployError, match="ModelBucket: CREATE_FAILED raced already exists"):
            cfn.apply(cloudformation, change_set, lambda _l: None)


def test_deploy_bucket_in_another_region_is_reported() -> None:
    s3 = _client("s3")
    with Stubber(s3) as stub:
        stub.add_response(
            "head_bucket",
            {"BucketRegion": "us-east-2"},
            {"Bucket": "mine", "ExpectedBucketOwner": ACCOUNT},
        )
        with pytest.raises(DeployError, match="is in us-east-2, not eu-west-1"):
            buckets.check_bucket(s3, "mine", region="eu-west-1", account=ACCOUNT)


def _stack_description(status: str, **extra) -> dict:
    return {
        "StackName": "spam-api-prod",
        "StackStatus": status,
        "CreationTime": datetime.now(UTC),
        **extra,
    }


def _event(logical: str, status: str, reason: str, when: datetime) -> dict:
    return {
        "StackId": "id",
        "EventId": logical + status,
        "StackName": "spam-api-prod",
        "LogicalResourceId": logical,
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
        "Timestamp": when,
    }


def test_deploy_unchanged_change_set_is_deleted_and_reported_empty() -> None:
    """CloudFormation's answer to a redeploy with nothing new: a FAILED change set."""
    cloudformation = _client("cloudformation")
    with Stubber(cloudformation) as stub:
        stub.add_response("create_change_set", {"Id": "cs-id", "StackId": "stack-id"})
        reason = "The submitted information didn't contain changes. Submit different information."
        failed = {"Status": "FAILED", "StatusReason": reason, "ExecutionStatus": "UNAVAILABLE"}
        stub.add_response("describe_change_set", failed)  # the waiter's poll
        stub.add_response("describe_change_set", failed)
        stub.add_response("delete_change_set", {})
        change_set = cfn.create_change_set(cloudformation, "spam-api-prod", {}, kind="UPDATE")
        stub.assert_no_pending_responses()
    assert change_set.empty and change_set.lines() == ["  (no changes)"]


def test_deploy_adopts_a_retained_bucket_and_log_group_through_an_import(
    project, monkeypatch
) -> None:
    """No stack, a bucket and a log group by its names: an IMPORT change set names both.

    moto cannot import, so the request is checked here against CloudFormation's model (the
    registry read by the model guard is tested on moto, in test_model_guard.py).
    """
    from stack.aws.model_guard import ModelCheck

    monkeypatch.setattr(deploy, "check_model", lambda *_a: ModelCheck("1.9.1", None))
    sts, s3, cloudformation, logs = (_client(s) for s in ("sts", "s3", "cloudformation", "logs"))
    with (
        _identity_stub(sts),
        _no_stack(cloudformation) as cfn_stub,
        Stubber(s3) as s3_stub,
        Stubber(logs) as logs_stub,
    ):
        s3_stub.add_response("head_bucket", {"BucketRegion": "eu-west-1"})
        logs_stub.add_response(
            "describe_log_groups", {"logGroups": [{"logGroupName": "/aws/lambda/spam-api-prod"}]}
        )
        found = deploy._preflight(
            _stubbed_context(sts=sts, s3=s3, cloudformation=cloudformation, logs=logs),
            deploy.DeployOptions(stage="prod", project_dir=project, bucket="kept", skip_api=True),
            lambda _l: None,
        )
        cfn_stub.add_response("create_change_set", {"Id": "cs-id", "StackId": "stack-id"})
        ready = {"Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE", "Changes": []}
        cfn_stub.add_response("describe_change_set", ready)
        cfn_stub.add_response("describe_change_set", ready)
        ids = [i["LogicalResourceId"] for i in found.imports]
        cfn.create_change_set(
            cloudformation,
            "spam-api-prod",
            deploy._parameters(
                deploy.DeployOptions(stage="prod", project_dir=project), found.stage, "kept", ""
            ),
            kind="IMPORT",
            template=cfn.import_template(ids),
            imports=found.imports,
        )
        cfn_stub.assert_no_pending_responses()
    assert found.imports == [
        {
            "ResourceType": "AWS::S3::Bucket",
            "LogicalResourceId": "ModelBucket",
            "ResourceIdentifier": {"BucketName": "kept"},
        },
        {
            "ResourceType": "AWS::Logs::LogGroup",
            "LogicalResourceId": "FunctionLogGroup",
            "ResourceIdentifier": {"LogGroupName": "/aws/lambda/spam-api-prod"},
        },
    ]
    template = json.loads(cfn.import_template(ids))
    assert set(template["Resources"]) == {"ModelBucket", "FunctionLogGroup"}
    assert "Outputs" not in template  # an import may not add outputs
    assert all("DeletionPolicy" in r for r in template["Resources"].values())  # import needs it
    # only the names: the update after the import then sets versioning, encryption, retention
    assert template["Resources"]["ModelBucket"]["Properties"] == {
        "BucketName": {"Ref": "ModelBucketName"}
    }
    assert template["Resources"]["FunctionLogGroup"]["Properties"] == {
        "LogGroupName": {"Fn::Sub": "/aws/lambda/${FunctionName}"}
    }


def test_deploy_prod_asks_before_executing_and_a_no_changes_nothing() -> None:
    cloudformation = _client("cloudformation")
    asked: list[str] = []
    change_set = cfn.ChangeSet("spam-api-prod", "cs", "UPDATE", [("Add", "M", "T", "")])
    tools = deploy.Toolchain(confirm=lambda q: asked.append(q) or False)
    with Stubber(cloudformation) as stub:
        stub.add_response(
            "delete_change_set", {}, {"StackName": "spam-api-prod", "ChangeSetName": "cs"}
        )
        with pytest.raises(DeployError, match="not confirmed: the change set was deleted"):
            deploy._execute(
                _stubbed_context(cloudformation=cloudformation),
                deploy.DeployOptions(stage="prod"),
                tools,
                change_set,
                lambda _l: None,
            )
        stub.assert_no_pending_responses()  # deleted, never executed
    assert asked == ["execute this change set on stage prod? [y/N] "]


def test_deploy_concurrency_quota_too_small_stops_before_anything(project) -> None:
    """A new account (10 concurrent executions in all) cannot reserve any for the API."""
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["prod"]["reserved_concurrency"] = 10
    config_path.write_text(json.dumps(config))
    sts, s3, lam = _client("sts"), _client("s3"), _client("lambda")
    cloudformation = _client("cloudformation")
    with (
        _identity_stub(sts),
        _no_stack(cloudformation),
        Stubber(s3) as s3_stub,
        Stubber(lam) as lam_stub,
    ):
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
                _stubbed_context(sts=sts, s3=s3, cloudformation=cloudformation, **{"lambda": lam}),
            )


# --- plan and dry run ----------------------------------------------------------------------


def test_deploy_plan_prints_every_step_and_makes_no_call(project) -> None:
    lines: list[str] = []
    ctx = AwsContext(region="eu-west-1")
    before = (project / ".chalice" / "config.json").read_text()
    deploy.deploy(
        deploy.DeployOptions(
            stage="prod", project_dir=project, static_bucket="spam-page-example", plan=True
        ),
        ctx,
        out=lines.append,
    )
    text = "\n".join(lines)
    for expected in (
        "stack spam-api-prod from stack/aws/template.json, through change sets",
        "ModelBucketName = spam-classifier-prod-<account-id>-eu-west-1",
        "PageBucketName = spam-page-example",
        "FunctionName = spam-api-prod",
        "ModelBucket: AWS::S3::Bucket (kept when the stack is deleted)",
        "SklearnLayer: AWS::Lambda::LayerVersion",
        "FunctionLogGroup: AWS::Logs::LogGroup",
        "chalice deploy --stage prod",
        "POST /feedback 5/s",
        "static/ and config.js into s3://spam-page-example",
        # what the dashboard and alarms read the stage's metrics by
        "StageName = prod",
        "MetricsNamespace = SpamClassifier",
        "ApiName = spam-api",
        "ApiStage = api",
        "DurationAlarmMilliseconds = 26100",  # Chalice's 60 s timeout, capped at API Gateway's 29
        "AlarmEmail = \n",
        "Dashboard: AWS::CloudWatch::Dashboard",
        "AlarmTopic: AWS::SNS::Topic",
        "SpamRateAnomalyDetector: AWS::CloudWatch::AnomalyDetector",
        "NoModelAlarm: AWS::CloudWatch::Alarm",
        "alarms: to SNS topic spam-api-prod-alarms, e-mailed to the stack's address, if it",
    ):
        assert expected in text + "\n", expected
    assert ctx._clients == {}  # not one client was made
    assert (project / ".chalice" / "config.json").read_text() == before


def _set_stage(project: Path, **values) -> None:
    path = project / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    config["stages"]["prod"].update(values)
    path.write_text(json.dumps(config))


def test_deploy_plan_takes_the_alarm_parameters_from_the_stage(project) -> None:
    """The function's timeout and metrics namespace come from the stage's config."""
    _set_stage(
        project,
        lambda_timeout=10,
        environment_variables={"MODEL_PREFIX": "models/", "METRICS_NAMESPACE": "Team/Spam"},
    )
    lines: list[str] = []
    options = deploy.DeployOptions(
        stage="prod", project_dir=project, alarm_email="ops@example.org", plan=True
    )
    deploy.deploy(options, AwsContext(region="eu-west-1"), out=lines.append)
    assert "    DurationAlarmMilliseconds = 9000" in lines  # 90% of its own 10 s
    assert "    MetricsNamespace = Team/Spam" in lines
    assert "    AlarmEmail = ops@example.org" in lines
    assert any("e-mailed to ops@example.org once it confirms" in line for line in lines)
    lines.clear()
    deploy.deploy(
        replace(options, alarm_email=""), AwsContext(region="eu-west-1"), out=lines.append
    )
    assert "  alarms: to SNS topic spam-api-prod-alarms, e-mailed to no one" in lines


@pytest.mark.parametrize(
    ("stage", "environment", "message"),
    [
        ("prod", {"METRICS_NAMESPACE": "AWS/Lambda"}, "in config.json: METRICS_NAMESPACE must be"),
        ("prod", {"METRICS_NAMESPACE": "Spam\nClassifier"}, "METRICS_NAMESPACE must be a Cl"),
        ("prod", {"UNCERTAINTY_BAND": "0.7"}, "in config.json: UNCERTAINTY_BAND must be"),
        ("prod.eu", {}, "'prod.eu' cannot name its metrics: STAGE_NAME must be a stage name"),
        ("p" * 33, {}, "cannot name its metrics: STAGE_NAME must be a stage name"),
    ],
)
def test_deploy_refuses_metrics_settings_the_api_would_refuse_before_any_call(
    project, stage, environment, message
) -> None:
    """The stage name and namespace go into the stack and the function's environment: read
    as the API reads them (deploy sets STAGE_NAME to the stage's name), or nothing happens."""
    path = project / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    config["stages"][stage] = {"environment_variables": {"MODEL_PREFIX": "models/", **environment}}
    path.write_text(json.dumps(config))
    ctx = _stubbed_context()  # every AWS call fails the test
    for plan in (True, False):
        options = deploy.DeployOptions(stage=stage, project_dir=project, plan=plan)
        with pytest.raises(DeployError, match=re.escape(message)):
            deploy.deploy(options, ctx, out=lambda _l: None)
    assert json.loads(path.read_text()) == config  # nothing written either


def test_deploy_gives_the_stack_and_function_the_stages_own_name(project) -> None:
    """A STAGE_NAME the config holds is not what the metrics are read by: the stage's name is."""
    _set_stage(project, environment_variables={"STAGE_NAME": "production"})
    lines: list[str] = []
    options = deploy.DeployOptions(stage="prod", project_dir=project, plan=True)
    deploy.deploy(options, AwsContext(region="eu-west-1"), out=lines.append)
    assert "    StageName = prod" in lines and "    MetricsNamespace = SpamClassifier" in lines


@pytest.mark.parametrize("address", ["ops", "ops@example", "two words@example.org"])
def test_deploy_refuses_a_malformed_alarm_email_before_any_call(project, address) -> None:
    ctx = _stubbed_context()  # every AWS call fails the test
    for plan in (True, False):
        options = deploy.DeployOptions(
            stage="prod", project_dir=project, alarm_email=address, plan=plan
        )
        with pytest.raises(DeployError, match="is not an e-mail address"):
            deploy.deploy(options, ctx, out=lambda _l: None)


def test_deploy_plan_cli_needs_no_credentials(project, tmp_path) -> None:
    result = _run_cli(
        [
            *("deploy", "--stage", "prod", "--region", "eu-west-1", "--plan"),
            *("--project-dir", str(project)),
        ],
        _bare_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "ModelBucket: AWS::S3::Bucket" in result.stdout


def test_destroy_plan_lists_what_would_go_and_what_stays(project) -> None:
    lines: list[str] = []
    destroy(AwsContext(region="eu-west-1"), project, "prod", plan=True, out=lines.append)
    assert "  kept    ModelBucket (AWS::S3::Bucket)" in lines
    assert "  removed SklearnLayer (AWS::Lambda::LayerVersion)" in lines
    assert "  removed PageBucket (AWS::S3::Bucket)" in lines
    lines.clear()
    destroy(
        AwsContext(region="eu-west-1"),
        project,
        "prod",
        plan=True,
        delete_model_bucket=True,
        out=lines.append,
    )
    assert "  removed ModelBucket (AWS::S3::Bucket)" in lines


def test_destroy_dry_run_reads_the_stack_and_changes_nothing(project) -> None:
    sts, cloudformation = _client("sts"), _client("cloudformation")
    lines: list[str] = []
    parameters = [
        {"ParameterKey": "ModelBucketName", "ParameterValue": "models"},
        {"ParameterKey": "PageBucketName", "ParameterValue": ""},
    ]
    with _identity_stub(sts), Stubber(cloudformation) as stub:
        stub.add_response(
            "describe_stacks",
            {"Stacks": [_stack_description("UPDATE_COMPLETE", Parameters=parameters)]},
        )
        when = datetime.now(UTC)
        stub.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": [
                    {
                        "LogicalResourceId": logical,
                        "PhysicalResourceId": physical,
                        "ResourceType": kind,
                        "ResourceStatus": "CREATE_COMPLETE",
                        "LastUpdatedTimestamp": when,
                    }
                    for logical, physical, kind in (
                        ("ModelBucket", "models", "AWS::S3::Bucket"),
                        ("SklearnLayer", "arn:layer:7", "AWS::Lambda::LayerVersion"),
                    )
                ]
            },
        )
        result = destroy(
            _stubbed_context(sts=sts, cloudformation=cloudformation),
            project,
            "prod",
            dry_run=True,
            out=lines.append,
        )
        stub.assert_no_pending_responses()  # and nothing else was called
    assert result.kept == ["models (AWS::S3::Bucket)"]
    assert result.removed == ["arn:layer:7 (AWS::Lambda::LayerVersion)"]
    assert "would keep models (AWS::S3::Bucket)" in lines


def test_deploy_unknown_profile_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    with pytest.raises(DeployError, match="AWS profile 'nobody' is not configured"):
        resolve_region(None, {"AWS_PROFILE": "nobody"})


def test_destroy_with_no_stack_and_no_api_does_nothing(project) -> None:
    sts, cloudformation = _client("sts"), _client("cloudformation")
    lines: list[str] = []
    with _identity_stub(sts), _no_stack(cloudformation):
        result = destroy(
            _stubbed_context(sts=sts, cloudformation=cloudformation),
            project,
            "prod",
            out=lines.append,
        )
    assert result.removed == [] and "no stack spam-api-prod in eu-west-1" in lines[0]


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


def test_the_cli_hands_its_flags_to_deploy_and_destroy(project, capsys) -> None:
    """Through ``python -m stack``'s own parser and runner: a flag that reached no option,
    or the wrong one, would change the plan printed."""
    from stack.__main__ import main

    where = ["--stage", "prod", "--region", "eu-west-1", "--plan", "--project-dir", str(project)]
    assert main(["deploy", *where, "--static-bucket", "spam-page-example"]) == 0
    assert "PageBucketName = spam-page-example" in capsys.readouterr().out
    assert main(["deploy", *where, "--alarm-email", "ops@example.org"]) == 0
    assert "AlarmEmail = ops@example.org" in capsys.readouterr().out
    assert main(["destroy", *where]) == 0
    assert "  kept    ModelBucket (AWS::S3::Bucket)" in capsys.readouterr().out
    assert main(["destroy", *where, "--delete-model-bucket"]) == 0
    assert "  removed ModelBucket (AWS::S3::Bucket)" in capsys.readouterr().out


# --- what deploy writes into the Chalice project ---------------------------------------


def test_deploy_config_edits_are_idempotent_and_keep_foreign_layers(project) -> None:
    from stack.aws.chalice_project import (
        point_policy_at_bucket,
        set_stage_environment,
        set_stage_layer,
    )

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

    ours = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:spam-classifier-sklearn:9"
    assert set_stage_layer(project, "prod", ours) is True
    assert set_stage_layer(project, "prod", ours) is False
    assert json.loads(config_path.read_text())["stages"]["prod"]["layers"] == [ours, public]

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
def test_deploy_plan_builds_the_layer_for_the_stages_architecture(
    tmp_path: Path, stage: str
) -> None:
    real = Path(__file__).resolve().parents[3] / "spam_api" / ".chalice" / "config.json"
    project = tmp_path / "project"
    (project / ".chalice").mkdir(parents=True)
    (project / ".chalice" / "config.json").write_text(real.read_text())
    arch = json.loads(real.read_text())["stages"][stage]["lambda_architecture"]
    lines: list[str] = []
    options = deploy.DeployOptions(stage=stage, project_dir=project, plan=True)
    deploy.deploy(options, AwsContext(region="eu-west-1"), out=lines.append)
    assert f"    LayerArchitecture = {arch}" in lines
    assert f"    PythonRuntime = python{deploy.RUNTIME_PYTHON}" in lines
    assert any(f"python -m vendor_build build --arch {arch}" in line for line in lines)


# --- capture: the rates, the grant ------------------------------------------------------------


def test_the_capture_grant_is_added_once_beside_the_s3_grants_and_removed_when_off(
    tmp_path: Path,
) -> None:
    """On the committed prod policy: the grant deploy adds is the one statement that changes."""
    from stack.aws.chalice_project import CAPTURE_STATEMENT, set_capture_grant
    from tests.support import copy_chalice_project

    project = copy_chalice_project(tmp_path)
    path = project / ".chalice" / "policy-prod.json"
    before = json.loads(path.read_text())
    assert set_capture_grant(project, "prod", "b", "capture/") == path
    assert set_capture_grant(project, "prod", "b", "capture/") is None  # idempotent
    after = json.loads(path.read_text())["Statement"]
    (grant,) = [s for s in after if s.get("Sid") == CAPTURE_STATEMENT]
    assert grant == {
        "Sid": CAPTURE_STATEMENT,
        "Effect": "Allow",
        "Action": ["s3:PutObject"],
        "Resource": ["arn:aws:s3:::b/capture/pending/*"],
    }
    assert [s for s in after if s is not grant] == before["Statement"]
    assert after.index(grant) == len(after) - 2  # before the logs statement
    assert set_capture_grant(project, "prod", "b", "samples/") == path  # another prefix
    resources = json.loads(path.read_text())["Statement"][-2]["Resource"]
    assert resources == ["arn:aws:s3:::b/samples/pending/*"]
    assert set_capture_grant(project, "prod", "b", None) == path
    assert json.loads(path.read_text()) == before
    assert set_capture_grant(project, "prod", "b", None) is None


def test_the_stage_environment_loses_what_unset_names(project) -> None:
    from stack.aws.chalice_project import set_stage_environment

    rates = {"CAPTURE_RATE": "0.01", "CAPTURE_UNCERTAIN_RATE": "0"}
    assert set_stage_environment(project, "prod", rates) is True
    assert set_stage_environment(project, "prod", {}, unset=rates) is True
    assert set_stage_environment(project, "prod", {}, unset=rates) is False
    env = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["prod"]
    assert env["environment_variables"] == {"MODEL_PREFIX": "models/"}


@pytest.mark.parametrize(
    ("given", "params", "said"),
    [
        ({}, ("0", "0"), "the stack's rates, if it holds any (off on a new stack)"),
        (
            {"capture_rate": 0.01},
            ("0.01", "0"),
            "CAPTURE_RATE=0.01, CAPTURE_UNCERTAIN_RATE=0 into the stage's environment, "
            "s3:PutObject on capture/pending/* into its policy",
        ),
        ({"capture_uncertain_rate": 0.5}, ("0", "0.5"), "CAPTURE_UNCERTAIN_RATE=0.5"),
        ({"capture_rate": 0.0}, ("0", "0"), "off: no CAPTURE_* rates, no grant"),
    ],
)
def test_deploy_plan_shows_the_capture_rates_and_the_lifecycle_parameters(
    project, given, params, said
) -> None:
    lines: list[str] = []
    options = deploy.DeployOptions(stage="prod", project_dir=project, plan=True, **given)
    deploy.deploy(options, AwsContext(region="eu-west-1"), out=lines.append)
    assert f"    CaptureRate = {params[0]}" in lines
    assert f"    CaptureUncertainRate = {params[1]}" in lines
    assert "    CapturePrefix = capture/" in lines and "    CaptureRetentionDays = 30" in lines
    assert any(line.startswith("  capture: ") and said in line for line in lines), lines


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "lots"])
def test_deploy_cli_refuses_a_capture_rate_outside_0_to_1(project, tmp_path, value) -> None:
    for option in ("--capture-rate", "--capture-uncertain-rate"):
        result = _run_cli(
            [
                *("deploy", "--stage", "prod", "--region", "eu-west-1", "--plan"),
                *("--project-dir", str(project), option, value),
            ],
            _bare_env(tmp_path),
        )
        assert result.returncode == 2
        assert f"{option}: must be a share from 0 to 1, got '{value}'" in result.stderr


def test_deploy_refuses_a_capture_prefix_that_overlaps_the_feedback_one(project) -> None:
    _set_stage(
        project,
        environment_variables={"MODEL_PREFIX": "models/", "CAPTURE_PREFIX": "feedback/c/"},
    )
    options = deploy.DeployOptions(stage="prod", project_dir=project, plan=True)
    with pytest.raises(DeployError, match="CAPTURE_PREFIX must lie outside FEEDBACK_PREFIX"):
        deploy.deploy(options, AwsContext(region="eu-west-1"), out=lambda _l: None)

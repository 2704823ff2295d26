"""The deployment templates, checked by tools no one here wrote: cfn-lint and checkov.

Two templates: the stack deploy makes (``stack/aws/template.json``: bucket, layer, log group,
page, dashboard, alarms and their topic) and the app's, which ``chalice package`` writes
offline (a region, no credentials) for stage ``prod`` from a copy of the project. Each must
pass cfn-lint with no findings at all, and checkov's findings must be exactly the documented
set below, each with the reason it stays; anything new fails the test, and so does a
documented finding that went away (then the README is out of date). moto's CloudFormation
ignores most bucket properties, so the stack template's resources are also asserted property
by property (its dashboard and alarms in test_monitoring_template.py).

checkov's pins conflict with ours (boto3, networkx, numpy), so it lives in its own venv,
``build/checkov-venv`` (``make checkov-env``); this module creates it when missing. Under
``CI=true`` a venv that cannot be made fails the test instead of skipping it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import copy_chalice_project

pytestmark = [pytest.mark.slow, pytest.mark.external]  # checkov runs from its own venv

REPO_ROOT = Path(__file__).resolve().parents[3]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: Under build/: already gitignored and outside ruff's reach, so the venv needs no entries.
CHECKOV_VENV = Path(os.environ.get("CHECKOV_VENV", REPO_ROOT / "build" / "checkov-venv"))
CHECKOV_REQUIREMENTS = REPO_ROOT / "requirements-checkov.txt"

#: checkov findings on the prod template that stay, and why (the README lists the same).
DOCUMENTED_CHECKOV_FINDINGS: dict[str, str] = {
    "CKV_AWS_73": (
        "API Gateway X-Ray tracing: Chalice's SAM template never sets TracingEnabled on the "
        "API; with `xray: true` in the stage, `chalice deploy` turns it on through "
        "CreateDeployment(tracingEnabled=True), which the template cannot show"
    ),
    "CKV_AWS_76": (
        "API Gateway access logging: Chalice cannot configure it, and it needs an "
        "account-wide CloudWatch role for API Gateway; the function's own log (30-day "
        "retention) records every request with its request id"
    ),
    "CKV_AWS_120": (
        "API Gateway caching: the API is POST-only, with bodies as input, so a stage cache "
        "would not hit; a cache cluster costs from about $14/month at rest"
    ),
    "CKV_AWS_116": (
        "Lambda dead-letter queue: API Gateway invokes the function synchronously and "
        "the caller gets the error; DLQs apply only to asynchronous invocations"
    ),
    "CKV_AWS_117": (
        "Lambda in a VPC: the function reads one S3 bucket and writes logs, no private "
        "resource; a VPC would need a NAT gateway or endpoints, billed at rest"
    ),
    "CKV_AWS_173": (
        "Lambda environment encrypted with a customer KMS key: the variables hold no "
        "secret (bucket, prefix, limits) and Lambda already encrypts them at rest with "
        "an AWS managed key; a customer key costs $1/month at rest and Chalice cannot "
        "set KmsKeyArn"
    ),
}

#: checkov findings on stack/aws/template.json that stay, and why (the README lists the same).
DOCUMENTED_STACK_CHECKOV_FINDINGS: dict[str, str] = {
    "CKV_AWS_18": (
        "S3 access logging (model and page buckets): it needs a third bucket and is billed "
        "per request logged; CloudTrail data events are the audit tool if one is needed"
    ),
    "CKV_AWS_158": (
        "log group encrypted with a customer KMS key: CloudWatch Logs already encrypts at "
        "rest; the logs hold request ids and timings, not message text; a key is $1/month"
    ),
    "CKV_AWS_54": "page bucket: a public website is its point (it holds static/ and config.js)",
    "CKV_AWS_56": "page bucket: a public website is its point (it holds static/ and config.js)",
    "CKV_AWS_21": (
        "page bucket versioning: it holds copies of static/, rewritten by every deploy; "
        "versions would only keep stale copies (the model bucket is versioned)"
    ),
    "CKV_AWS_26": (
        "alarm topic not encrypted at rest: CloudWatch cannot publish to a topic under the "
        "AWS managed key (alias/aws/sns), a customer key costs $1/month and a key policy "
        "for cloudwatch.amazonaws.com, and the notifications hold alarm names, thresholds "
        "and states, never message text"
    ),
}

#: cfn-lint findings that stay (none): any error or warning fails the test.
DOCUMENTED_CFN_LINT_FINDINGS: dict[str, str] = {}


def _offline_env() -> dict[str, str]:
    """What the platform facts promise: a region and no credentials are enough to package."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _package(project: Path, out_dir: Path, pkg_format: str) -> Path:
    chalice = Path(sys.executable).parent / "chalice"
    result = subprocess.run(
        [str(chalice), "package", "--stage", "prod", "--pkg-format", pkg_format, str(out_dir)],
        cwd=project,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out_dir


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_chalice_project(tmp_path_factory.mktemp("templates"))


@pytest.fixture(scope="module")
def prod_config(project: Path) -> dict:
    config = json.loads((project / ".chalice" / "config.json").read_text())
    return config


@pytest.fixture(scope="module")
def sam_template(project: Path) -> Path:
    return _package(project, project.parent / "cloudformation", "cloudformation") / "sam.json"


@pytest.fixture(scope="module", params=["chalice package", "stack"])
def template_and_findings(request, sam_template: Path) -> tuple[Path, dict[str, str]]:
    """Each template with the checkov findings documented for it."""
    if request.param == "stack":
        return REPO_ROOT / "stack" / "aws" / "template.json", DOCUMENTED_STACK_CHECKOV_FINDINGS
    return sam_template, DOCUMENTED_CHECKOV_FINDINGS


@pytest.fixture(scope="module")
def terraform_template(project: Path) -> Path:
    return _package(project, project.parent / "terraform", "terraform") / "chalice.tf.json"


def test_template_cfn_lint_finds_nothing(template_and_findings) -> None:
    template, _ = template_and_findings
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--format", "json", str(template)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    found = {
        f"{f['Rule']['Id']}: {f['Message']}"
        for f in findings
        if f["Rule"]["Id"] not in DOCUMENTED_CFN_LINT_FINDINGS
    }
    assert not found, "cfn-lint findings:\n" + "\n".join(sorted(found))
    assert result.returncode in {0, 8}, result.stderr  # 8: informational only


def _checkov_bin() -> Path:
    """checkov from its own venv, made from requirements-checkov.txt when missing."""
    checkov = CHECKOV_VENV / "bin" / "checkov"
    stamp = CHECKOV_VENV / ".installed"
    if checkov.exists() and stamp.exists():
        return checkov
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(CHECKOV_VENV)],
        [
            *(str(CHECKOV_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"),
            *("--disable-pip-version-check", "-r", str(CHECKOV_REQUIREMENTS)),
        ],
    ]
    for argv in steps:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            message = (
                f"could not create the checkov venv at {CHECKOV_VENV} (`{' '.join(argv[:4])}` "
                f"exit {result.returncode}): {(result.stdout + result.stderr)[-1500:]}"
            )
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    stamp.touch()
    return checkov


@pytest.mark.timeout(1200)
def test_template_checkov_findings_are_exactly_the_documented_ones(template_and_findings) -> None:
    template, documented = template_and_findings
    checkov = _checkov_bin()
    result = subprocess.run(
        [
            *(str(checkov), "-f", str(template), "--framework", "cloudformation"),
            *("--output", "json", "--skip-download", "--compact"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.returncode in {0, 1}, result.stderr[-2000:]  # 1: some checks failed
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0
    failed = {c["check_id"]: c["resource"] for c in report["results"]["failed_checks"]}
    new = {k: v for k, v in failed.items() if k not in documented}
    gone = set(documented) - set(failed)
    assert not new, (
        f"new checkov findings on {template.name} (fix them, or document them here and in "
        f"the README): {new}"
    )
    assert not gone, f"documented checkov findings no longer reported (update the docs): {gone}"
    passed = {c["check_id"] for c in report["results"]["passed_checks"]}
    if template.name == "sam.json":
        assert "CKV_AWS_115" in passed, "reserved concurrency (a cost guard) must be configured"
    else:  # what the issue asks of the model bucket, as checkov sees it
        assert {"CKV_AWS_19", "CKV_AWS_53", "CKV_AWS_55", "CKV_AWS_21"} <= passed


def test_template_sam_carries_layer_environment_and_policy(
    sam_template: Path, prod_config: dict
) -> None:
    template = json.loads(sam_template.read_text())
    function = template["Resources"]["APIHandler"]["Properties"]
    prod = prod_config["stages"]["prod"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == [prod["lambda_architecture"]]
    assert function["Layers"] == prod["layers"]
    assert (
        function["Environment"]["Variables"]["MODEL_BUCKET"]
        == (prod["environment_variables"]["MODEL_BUCKET"])
    )
    policies = template["Resources"]["ApiHandlerRole"]["Properties"]["Policies"]
    statements = [st for p in policies for st in p["PolicyDocument"]["Statement"]]
    bucket = prod["environment_variables"]["MODEL_BUCKET"]
    writes = [st for st in statements if "s3:PutObject" in json.dumps(st["Action"])]
    assert any("s3:GetObject" in json.dumps(st["Action"]) for st in statements)
    # the one write: pending feedback reports, never the model prefix
    assert [(st["Action"], st["Resource"]) for st in writes] == [
        (["s3:PutObject"], [f"arn:aws:s3:::{bucket}/feedback/pending/*"])
    ]


def test_template_terraform_is_json_with_layer_environment_and_policy(
    terraform_template: Path, prod_config: dict, project: Path
) -> None:
    template = json.loads(terraform_template.read_text())  # valid JSON, or this raises
    resources = template["resource"]
    (function,) = resources["aws_lambda_function"].values()
    prod = prod_config["stages"]["prod"]
    assert function["runtime"] == "python3.13"
    assert function["architectures"] == [prod["lambda_architecture"]]
    assert function["layers"] == prod["layers"]
    variables = function["environment"]["variables"]
    for name, value in prod["environment_variables"].items():
        assert variables[name] == value
    (role_policy,) = resources["aws_iam_role_policy"].values()
    policy = json.loads(role_policy["policy"])
    expected = json.loads((project / ".chalice" / prod["iam_policy_file"]).read_text())
    assert policy == expected
    assert "aws_api_gateway_rest_api" in resources


def test_stack_template_resources_carry_every_setting_moto_ignores() -> None:
    """What moto's CloudFormation does not apply, asserted on the template itself."""
    template = json.loads((REPO_ROOT / "stack" / "aws" / "template.json").read_text())
    resources = template["Resources"]
    bucket = resources["ModelBucket"]
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = bucket["Properties"]
    assert props["BucketName"] == {"Ref": "ModelBucketName"}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
        "BucketKeyEnabled": True,
    }
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    for state in ("unreviewed", "rejected"):
        rule = rules[f"expire-{state}-feedback"]
        folder = "pending" if state == "unreviewed" else "rejected"
        assert rule["Prefix"] == {"Fn::Sub": f"${{FeedbackPrefix}}{folder}/"}
        assert rule["ExpirationInDays"] == {"Ref": "FeedbackRetentionDays"}
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert not any("accepted" in json.dumps(rule) for rule in rules.values())  # training data
    for folder in ("pending", "discarded"):  # captures nobody labelled
        rule = rules[f"expire-{folder}-captures"]
        assert rule["Status"] == "Enabled"
        assert rule["Prefix"] == {"Fn::Sub": f"${{CapturePrefix}}{folder}/"}
        assert rule["ExpirationInDays"] == {"Ref": "CaptureRetentionDays"}
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert not any("labelled" in json.dumps(rule) for rule in rules.values())  # training data
    parameters = template["Parameters"]
    assert parameters["CapturePrefix"]["Default"] == "capture/"
    assert parameters["CaptureRetentionDays"]["Default"] == 30
    for rate in ("CaptureRate", "CaptureUncertainRate"):  # what deploy keeps for later deploys
        assert (parameters[rate]["MinValue"], parameters[rate]["MaxValue"]) == (0, 1)
        assert template["Outputs"][rate]["Value"] == {"Ref": rate}
    (deny,) = resources["ModelBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::Sub": "${ModelBucket.Arn}/*"} in deny["Resource"]

    layer = resources["SklearnLayer"]
    assert layer["Condition"] == "HasLayer"
    assert layer["Properties"]["Content"] == {
        "S3Bucket": {"Ref": "ModelBucket"},
        "S3Key": {"Ref": "LayerKey"},
    }
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "LayerArchitecture"}]
    assert layer["Properties"]["CompatibleRuntimes"] == [{"Ref": "PythonRuntime"}]
    assert template["Parameters"]["LayerArchitecture"]["AllowedValues"] == ["x86_64", "arm64"]

    logs = resources["FunctionLogGroup"]["Properties"]
    assert logs["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${FunctionName}"}
    assert logs["RetentionInDays"] == {"Ref": "LogRetentionDays"}

    page = resources["PageBucket"]
    assert page["Condition"] == "HasPage" and page["DeletionPolicy"] == "Delete"
    assert page["Properties"]["WebsiteConfiguration"] == {"IndexDocument": "index.html"}
    block = page["Properties"]["PublicAccessBlockConfiguration"]
    assert block["BlockPublicAcls"] and block["IgnorePublicAcls"]  # public by policy only
    (read,) = resources["PageBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (read["Action"], read["Principal"]) == ("s3:GetObject", "*")

    outputs = template["Outputs"]
    assert outputs["ModelBucketName"]["Value"] == {"Ref": "ModelBucket"}
    assert outputs["LayerArn"]["Value"] == {"Ref": "SklearnLayer"}
    assert outputs["PageUrl"]["Value"] == {"Fn::GetAtt": ["PageBucket", "WebsiteURL"]}

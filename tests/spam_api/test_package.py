"""`chalice package` (SAM and Terraform) works offline and carries what the issue requires.

The project is copied to tmp_path and packaged there, with no credentials and no
~/.aws, so nothing is written into the repository and nothing talks to AWS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import API_DIR

CONFIG = json.loads((API_DIR / ".chalice" / "config.json").read_text())
ROUTES = ("/predict", "/predict/batch", "/health", "/model")
LOG_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


def stage_env(stage: str) -> dict[str, str]:
    return {**CONFIG["environment_variables"], **CONFIG["stages"][stage]["environment_variables"]}


def stage_policy(stage: str) -> dict:
    name = CONFIG["stages"][stage]["iam_policy_file"]
    return json.loads((API_DIR / ".chalice" / name).read_text())


def package(tmp_path: Path, stage: str, pkg_format: str) -> Path:
    project = tmp_path / "spam_api"
    shutil.copytree(
        API_DIR,
        project,
        ignore=shutil.ignore_patterns("__pycache__", "deployments", "deployed", "vendor"),
    )
    out = tmp_path / f"out-{pkg_format}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key not in {"HOME"}
    }
    env.update(AWS_DEFAULT_REGION="us-east-1", HOME=str(tmp_path))
    chalice = Path(sys.executable).parent / "chalice"
    argv = [str(chalice), "package", "--stage", stage, "--pkg-format", pkg_format, str(out)]
    result = subprocess.run(
        argv, cwd=project, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_runtime_requirements_are_empty() -> None:
    lines = (API_DIR / "requirements.txt").read_text().splitlines()
    assert [line for line in lines if line.strip() and not line.startswith("#")] == []


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_policies_grant_exactly_the_registry_pending_feedback_and_logs(stage: str) -> None:
    """Every grant the function needs is there, and nothing else (both ways: a missing
    grant fails as an extra one does)."""
    env = stage_env(stage)
    bucket, prefix = env["MODEL_BUCKET"], env["MODEL_PREFIX"]
    feedback = env.get("FEEDBACK_PREFIX", "feedback/")
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{CONFIG['app_name']}-{stage}"
    granted: dict[str, set[str]] = {}
    for statement in stage_policy(stage)["Statement"]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
        assert statement["Effect"] == "Allow"
        for action in _listed(statement["Action"]):
            granted.setdefault(action, set()).update(_listed(statement["Resource"]))
    assert granted == {
        "s3:GetObject": {
            f"arn:aws:s3:::{bucket}/{prefix}*",
            f"arn:aws:s3:::{bucket}/spam_model.pkl",
            f"arn:aws:s3:::{bucket}/vectorizer.pkl",
        },
        "s3:PutObject": {f"arn:aws:s3:::{bucket}/{feedback}pending/*"},
        **{action: {log_group, f"{log_group}:*"} for action in LOG_ACTIONS},
    }


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_sam_template(tmp_path: Path, stage: str) -> None:
    out = package(tmp_path, stage, "cloudformation")
    template = json.loads((out / "sam.json").read_text())
    resources = template["Resources"]
    function = resources["APIHandler"]["Properties"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == [CONFIG["stages"][stage]["lambda_architecture"]]
    assert function["Layers"] == CONFIG["stages"][stage]["layers"]
    assert function["Environment"]["Variables"] == stage_env(stage)
    assert "AWS_ENDPOINT_URL_S3" not in function["Environment"]["Variables"]
    assert function["MemorySize"] == 1024 and function["Timeout"] == 30
    reserved = CONFIG["stages"][stage].get("reserved_concurrency")
    assert function.get("ReservedConcurrentExecutions") == reserved
    assert stage != "prod" or reserved  # prod has a cost guard
    (policy,) = resources["ApiHandlerRole"]["Properties"]["Policies"]
    assert policy["PolicyDocument"] == stage_policy(stage)

    paths = resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    origin = stage_env(stage)["CORS_ALLOW_ORIGIN"]
    for route in ROUTES:
        options = paths[route]["options"]["x-amazon-apigateway-integration"]
        assert options["type"] == "mock"
        headers = options["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{origin}'"
        assert "OPTIONS" in headers["method.response.header.Access-Control-Allow-Methods"]

    names = zipfile.ZipFile(out / "deployment.zip").namelist()
    assert "app.py" in names and "chalicelib/registry_format.py" in names
    assert not any(n.startswith(("sklearn/", "numpy/", "tests/", "boto3/")) for n in names)


def test_every_deployed_stage_names_its_architecture() -> None:
    """dev runs arm64 (20 % cheaper, proven here only under emulation), prod x86_64 (measured)."""
    assert CONFIG["stages"]["dev"]["lambda_architecture"] == "arm64"
    assert CONFIG["stages"]["prod"]["lambda_architecture"] == "x86_64"


def test_terraform_template(tmp_path: Path) -> None:
    out = package(tmp_path, "prod", "terraform")
    template = json.loads((out / "chalice.tf.json").read_text())
    resource = template["resource"]
    function = resource["aws_lambda_function"]["api_handler"]
    assert function["runtime"] == "python3.13"
    assert function["architectures"] == [CONFIG["stages"]["prod"]["lambda_architecture"]]
    assert function["layers"] == CONFIG["stages"]["prod"]["layers"]
    assert function["environment"]["variables"] == stage_env("prod")
    policy = json.loads(resource["aws_iam_role_policy"]["api_handler_role"]["policy"])
    assert policy == stage_policy("prod")
    assert resource["aws_api_gateway_rest_api"]["rest_api"]["body"] == (
        "${local.chalice_api_swagger}"
    )
    body = json.loads(template["locals"]["chalice_api_swagger"])
    for route in ROUTES:
        options = body["paths"][route]["options"]["x-amazon-apigateway-integration"]
        headers = options["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == (
            "'https://spam.example.org'"
        )

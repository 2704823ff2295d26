"""Least privilege, read from what ``chalice package`` generates for every stage.

A copy of the Chalice project is packaged (SAM and Terraform, offline, no credentials)
into a temporary folder, and the function role's policy is checked statement by
statement: no wildcard action, nothing but ``s3:GetObject`` on the stage's model prefix
(plus the tutorial's two bucket-root pickles, read in the legacy layout),
``s3:PutObject`` on exactly the pending feedback reports (``FEEDBACK_PREFIX`` + ``pending/*``:
never the model prefix, never reviewed reports), on the pending captures
(``CAPTURE_PREFIX`` + ``pending/*``) only in a stage where capture is on, and the three
CloudWatch Logs actions on the function's own log group. Beside the committed stages (all
with capture off), a copy of ``dev`` is packaged with capture turned on by deploy's own
config writers, and a stage with capture off granted the capture prefix fails the check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stack.aws.chalice_project import set_capture_grant, set_stage_environment

from .conftest import API_DIR

pytestmark = pytest.mark.integration

CONFIG = json.loads((API_DIR / ".chalice" / "config.json").read_text())
STAGES = sorted(CONFIG["stages"])
#: dev as ``make deploy ARGS='--capture-rate 0.01 --capture-uncertain-rate 0.5'`` leaves it.
CAPTURING = "dev-capturing"
CAPTURE_RATES = {"CAPTURE_RATE": "0.01", "CAPTURE_UNCERTAIN_RATE": "0.5"}
FORMATS = ("cloudformation", "terraform")
# the reader never lists: GetObject (and HeadObject) only; the feedback writer only creates
S3_ACTIONS = {"s3:GetObject", "s3:PutObject"}
LOG_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
LEGACY_KEYS = ("spam_model.pkl", "vectorizer.pkl")


def _stage_env(stage: str) -> dict[str, str]:
    if stage == CAPTURING:
        return {**_stage_env("dev"), **CAPTURE_RATES}
    return {
        **CONFIG.get("environment_variables", {}),
        **CONFIG["stages"][stage].get("environment_variables", {}),
    }


def _capturing(env: dict[str, str]) -> bool:
    rates = (env.get("CAPTURE_RATE", "0"), env.get("CAPTURE_UNCERTAIN_RATE", "0"))
    return any(float(rate or 0) > 0 for rate in rates)


def _chalice() -> str:
    candidate = Path(sys.executable).parent / "chalice"
    return str(candidate) if candidate.exists() else "chalice"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Every stage in both formats, packaged concurrently from a copy of the project."""
    root = tmp_path_factory.mktemp("package")
    project = root / "spam_api"
    ignore = shutil.ignore_patterns("deployments", "deployed", "vendor", "__pycache__")
    shutil.copytree(API_DIR, project, ignore=ignore)
    capturing = root / CAPTURING / "spam_api"  # dev with capture on, as deploy writes it
    shutil.copytree(API_DIR, capturing, ignore=ignore)
    set_stage_environment(capturing, "dev", CAPTURE_RATES)
    set_capture_grant(capturing, "dev", _stage_env("dev")["MODEL_BUCKET"], "capture/")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_DEFAULT_REGION="us-east-1", PYTHONDONTWRITEBYTECODE="1")
    jobs = {}
    for stage in [*STAGES, CAPTURING]:
        for fmt in FORMATS:
            out = root / f"{stage}-{fmt}"
            chalice_stage = "dev" if stage == CAPTURING else stage
            argv = [_chalice(), "package", "--stage", chalice_stage, "--pkg-format", fmt, str(out)]
            jobs[(stage, fmt)] = (
                out,
                subprocess.Popen(
                    argv,
                    cwd=capturing if stage == CAPTURING else project,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                ),
            )
    results = {}
    for key, (out, process) in jobs.items():
        output, _ = process.communicate(timeout=240)
        assert process.returncode == 0, (key, output.decode(errors="replace")[-2000:])
        results[key] = out
    return results


def _policies(out: Path, fmt: str) -> list[dict[str, Any]]:
    """The inline policies of every IAM role in the generated template."""
    if fmt == "cloudformation":
        template = json.loads((out / "sam.json").read_text())
        roles = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
        assert roles, "no IAM role in sam.json"
        policies = [p["PolicyDocument"] for r in roles for p in r["Properties"]["Policies"]]
        managed = [r["Properties"].get("ManagedPolicyArns") for r in roles]
        assert not any(managed), managed  # no AWS managed policy sneaks in
        functions = [
            r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
        ]
        assert all("Policies" not in f["Properties"] for f in functions)
        return policies
    template = json.loads((out / "chalice.tf.json").read_text())
    resources = template["resource"]
    assert "aws_iam_role_policy_attachment" not in resources
    return [json.loads(p["policy"]) for p in resources["aws_iam_role_policy"].values()]


def _listify(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _problems(policy: dict[str, Any], stage: str) -> list[str]:
    env = _stage_env(stage)
    bucket, prefix = env["MODEL_BUCKET"], env.get("MODEL_PREFIX", "models/")
    prefix = prefix.strip("/") + "/"
    feedback = env.get("FEEDBACK_PREFIX", "feedback/").strip("/") + "/"
    capture = env.get("CAPTURE_PREFIX", "capture/").strip("/") + "/"
    function = f"{CONFIG['app_name']}-{stage.removesuffix('-capturing')}"
    creates = {f"arn:aws:s3:::{bucket}/{feedback}pending/*"}
    capture_grant = f"arn:aws:s3:::{bucket}/{capture}pending/*"
    if _capturing(env):
        creates.add(capture_grant)
    allowed = {
        "s3:GetObject": {f"arn:aws:s3:::{bucket}/{prefix}*"}
        | {f"arn:aws:s3:::{bucket}/{key}" for key in LEGACY_KEYS},
        "s3:PutObject": creates,
    }
    allowed_logs = {
        f"arn:aws:logs:*:*:log-group:/aws/lambda/{function}",
        f"arn:aws:logs:*:*:log-group:/aws/lambda/{function}:*",
    }
    problems = []
    for statement in policy["Statement"]:
        sid = statement.get("Sid", "?")
        for forbidden in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
            if forbidden in statement:
                problems.append(f"{sid}: uses {forbidden}")
        if statement.get("Effect") != "Allow":
            continue
        actions = _listify(statement.get("Action", []))
        resources = _listify(statement.get("Resource", []))
        for action in actions:
            if "*" in action or "?" in action:
                problems.append(f"{sid}: wildcard action {action!r}")
            elif action not in S3_ACTIONS | LOG_ACTIONS:
                problems.append(f"{sid}: action {action!r} is not needed")
        kinds = {a.split(":")[0] for a in actions}
        if len(kinds) != 1:
            problems.append(f"{sid}: mixes services {sorted(kinds)}")
            continue
        for action in actions:
            where = allowed.get(action, allowed_logs)
            for resource in resources:
                if resource not in where:
                    problems.append(f"{sid}: {action} on {resource!r} is outside {sorted(where)}")
    granted = {a for s in policy["Statement"] for a in _listify(s.get("Action", []))}
    if granted != S3_ACTIONS | LOG_ACTIONS:
        problems.append(f"actions granted {sorted(granted)}, expected exactly the needed ones")
    prefix_grant = f"arn:aws:s3:::{bucket}/{prefix}*"
    if not any(prefix_grant in _listify(s.get("Resource", [])) for s in policy["Statement"]):
        problems.append(f"nothing grants s3:GetObject on {prefix_grant}")
    granted_capture = any(
        capture_grant in _listify(s.get("Resource", [])) for s in policy["Statement"]
    )
    if _capturing(env) and not granted_capture:
        problems.append(f"capture is on but nothing grants s3:PutObject on {capture_grant}")
    return problems


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("stage", [*STAGES, CAPTURING])
def test_the_packaged_role_grants_exactly_what_the_function_needs(packaged, stage, fmt) -> None:
    policies = _policies(packaged[(stage, fmt)], fmt)
    assert len(policies) == 1, policies
    problems = _problems(policies[0], stage)
    assert problems == [], "\n".join(problems)
    statements = policies[0]["Statement"]
    print(
        f"\n{stage}/{fmt}: {len(statements)} statements, "
        f"{sorted({a for s in statements for a in _listify(s['Action'])})}"
    )


@pytest.mark.parametrize("stage", [*STAGES, CAPTURING])
def test_only_the_capturing_stage_gives_its_function_capture_rates(packaged, stage) -> None:
    template = json.loads((packaged[(stage, "cloudformation")] / "sam.json").read_text())
    env = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    rates = {name: value for name, value in env.items() if name.startswith("CAPTURE_")}
    assert rates == (CAPTURE_RATES if stage == CAPTURING else {})


@pytest.mark.parametrize(
    "statement, words",
    [
        ({"Action": "s3:*", "Resource": "arn:aws:s3:::b/models/*"}, "wildcard action"),
        ({"Action": "*", "Resource": "*"}, "wildcard action"),
        ({"Action": "s3:Get*", "Resource": "arn:aws:s3:::b/models/*"}, "wildcard action"),
        ({"Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}, "outside"),
        ({"Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/models/*"}, "outside"),
        ({"Action": "s3:GetObject", "Resource": "*"}, "outside"),
        ({"Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/models/*"}, "outside"),
        ({"Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/feedback/*"}, "outside"),
        ({"Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/feedback/accepted/*"}, "outside"),
        ({"Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/feedback/pending/*"}, "outside"),
        # capture is off in this stage: no write under its prefix at all
        ({"Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/capture/pending/*"}, "outside"),
        (
            {"Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/feedback/pending/*"},
            "not needed",
        ),
        ({"Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}, "not needed"),
        ({"Action": "logs:PutLogEvents", "Resource": "*"}, "outside"),
        ({"NotAction": "iam:*", "Resource": "*"}, "NotAction"),
    ],
)
def test_the_checker_catches_what_it_must(monkeypatch, statement, words) -> None:
    """The rules above fail on each kind of over-grant (so a pass means something)."""
    stage = STAGES[0]
    monkeypatch.setitem(
        CONFIG["stages"][stage],
        "environment_variables",
        {"MODEL_BUCKET": "b", "MODEL_PREFIX": "models/"},
    )
    good = _good_policy(stage)
    assert _problems(good, stage) == []
    bad = {**good, "Statement": [*good["Statement"], {"Effect": "Allow", **statement}]}
    assert any(words in p for p in _problems(bad, stage)), _problems(bad, stage)


def _good_policy(stage: str, *extra: dict[str, Any]) -> dict[str, Any]:
    """The grants a stage on bucket ``b`` needs with capture off, plus ``extra``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::b/models/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": ["arn:aws:s3:::b/feedback/pending/*"],
            },
            {
                "Effect": "Allow",
                "Action": sorted(LOG_ACTIONS),
                "Resource": [
                    f"arn:aws:logs:*:*:log-group:/aws/lambda/{CONFIG['app_name']}-{stage}"
                ],
            },
            *extra,
        ],
    }


CAPTURE_GRANT = {
    "Effect": "Allow",
    "Action": ["s3:PutObject"],
    "Resource": ["arn:aws:s3:::b/capture/pending/*"],
}


@pytest.mark.parametrize(
    "statement",
    [
        {"Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/capture/*"},
        {"Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/capture/labelled/*"},
        {"Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/capture/pending/*"},
        {"Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/models/capture/pending/*"},
    ],
)
def test_with_capture_on_the_checker_wants_the_grant_and_nothing_wider(
    monkeypatch, statement
) -> None:
    stage = STAGES[0]
    env = {"MODEL_BUCKET": "b", "MODEL_PREFIX": "models/", "CAPTURE_UNCERTAIN_RATE": "0.5"}
    monkeypatch.setitem(CONFIG["stages"][stage], "environment_variables", env)
    assert _problems(_good_policy(stage, CAPTURE_GRANT), stage) == []
    missing = _problems(_good_policy(stage), stage)
    assert missing == [
        "capture is on but nothing grants s3:PutObject on arn:aws:s3:::b/capture/pending/*"
    ]
    wider = _problems(_good_policy(stage, CAPTURE_GRANT, {"Effect": "Allow", **statement}), stage)
    assert any("outside" in p for p in wider), wider

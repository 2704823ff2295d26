"""Deploy a stage to AWS: ``python -m stack deploy --stage prod`` (``make deploy STAGE=prod``).

Everything around the Chalice app is one CloudFormation stack, ``<app_name>-<stage>``,
made from ``stack/aws/template.json`` (model bucket, scikit-learn layer, log group, optional
page bucket, and the stage's dashboard, alarms and their SNS topic). In order:

1. preflight: region, credentials, the stage in the Chalice config, every bucket name
   (ours, free, or someone else's), the concurrency quota, and the model guard
   (``stack.aws.model_guard``). A problem here stops the deploy before anything exists.
2. stack: a first deploy creates it without the layer (the zip needs the bucket first),
   importing a model bucket, log group or page bucket that already exists (one retained
   by destroy, or a stage deployed before the stack). Then the layer zip is uploaded to
   the model bucket and one change set brings the stack to the template; a redeploy with
   nothing new finds it empty and executes nothing. prod asks before each execution and
   its stack has termination protection.
3. stage settings: the outputs (bucket, layer ARN, page origin for CORS), the stage's name
   and metrics namespace (what its metrics and alarms are keyed by) and its capture rates
   into ``.chalice/config.json``, and into the stage's policy file the bucket and, only
   while capture is on, the grant to create pending captures; ``chalice deploy`` reads them.
4. model: train and publish when the registry has none for the stage's scikit-learn.
5. API: ``chalice deploy --stage`` (function, role, REST API), then stage throttling.
6. page (``--static-bucket``): ``static/`` plus a ``config.js`` naming the API URL.

``--plan`` prints what would happen without any AWS call; ``--dry-run`` creates the change
set and prints it without executing it (it needs credentials that can read the account).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from chalicelib.s3_errors import error_code
from chalicelib.settings import Settings, SettingsError, load_settings

from stack import REPO_ROOT, STATIC_DIR
from stack.aws import cfn
from stack.aws.buckets import check_bucket, upload_page
from stack.aws.chalice_project import (
    DEPLOY_CALLS,
    LAYER_PREFIX,
    ChaliceCli,
    chalice_api_url,
    chalice_executable,
    chalice_rest_api_id,
    legacy_extras,
    load_config,
    point_policy_at_bucket,
    set_capture_grant,
    set_stage_environment,
    set_stage_layer,
    stack_name,
)
from stack.aws.context import (
    DEFAULT_PROJECT_DIR,
    AwsContext,
    DeployError,
    add_stage_arguments,
    ask,
    context_from,
    exit_code,
    preflight,
)
from stack.aws.model_guard import (
    ModelCheck,
    check_model,
    missing_model_error,
    pinned_sklearn_version,
    publish_command,
)
from stack.aws.monitoring import DEFAULT_LAMBDA_TIMEOUT, check_alarm_email, duration_alarm_ms
from stack.capture import CAPTURE_VARIABLES, add_capture_options, capture_environment, share_text
from stack.handoff import curl_line, page_config_js
from stack.processes import run_streaming

__all__ = ["HELP", "DeployOptions", "DeployResult", "Toolchain", "add_arguments", "deploy", "run"]

HELP = "deploy a stage to AWS (one CloudFormation stack, the model, the Chalice API, a page)"

DEFAULT_PREFIX = "models/"
#: API Gateway throttling (requests per second, burst): a cost and abuse guard Chalice's
#: config cannot express; POST /feedback gets its own, lower one (each report is an
#: object a person must review).
DEFAULT_THROTTLE = (50.0, 100)
DEFAULT_FEEDBACK_THROTTLE = (5.0, 10)
_MIN_UNRESERVED = 10  # Lambda keeps this much of the account's concurrency unreserved
#: The Python of this interpreter: Chalice takes the function's runtime from it.
RUNTIME_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@dataclass(frozen=True)
class DeployOptions:
    """What ``python -m stack deploy`` was asked to do."""

    stage: str
    project_dir: Path = DEFAULT_PROJECT_DIR
    bucket: str | None = None
    prefix: str = DEFAULT_PREFIX
    data: Path | None = None
    train_args: tuple[str, ...] = ()
    layer_zip: Path | None = None
    rebuild_layer: bool = False
    skip_model: bool = False
    skip_layer: bool = False
    skip_api: bool = False
    static_bucket: str | None = None
    static_dir: Path = STATIC_DIR
    #: where the alarms are e-mailed; ``None``: the stack's address, ``""``: none
    alarm_email: str | None = None
    #: the shares of scored messages kept (``CAPTURE_RATE``, ``CAPTURE_UNCERTAIN_RATE``);
    #: both ``None``: the stack's; one given: that pair, the other 0 (so ``0`` turns it off)
    capture_rate: float | None = None
    capture_uncertain_rate: float | None = None
    cors_origin: str | None = None
    log_retention_days: int = 30
    throttle: tuple[float, int] = DEFAULT_THROTTLE
    feedback_throttle: tuple[float, int] = DEFAULT_FEEDBACK_THROTTLE
    #: the scikit-learn the function runs after this deploy; ``None``: the pinned one
    runtime_sklearn: str | None = None
    train_missing_model: bool = False
    plan: bool = False
    dry_run: bool = False
    yes: bool = False

    @property
    def production(self) -> bool:
        """prod asks before each change set and its stack has termination protection."""
        return self.stage == "prod"

    @property
    def capture(self) -> tuple[float, float]:
        """``(CAPTURE_RATE, CAPTURE_UNCERTAIN_RATE)`` as given, 0 for one not given."""
        return (self.capture_rate or 0.0, self.capture_uncertain_rate or 0.0)


@dataclass
class DeployResult:
    """What a deploy did, step by step."""

    bucket: str
    steps: dict[str, str] = field(default_factory=dict)
    api_url: str | None = None
    page_url: str | None = None
    layer_arn: str | None = None
    dashboard_url: str | None = None


def _train_and_publish_cli(
    ctx: AwsContext,
    bucket: str,
    prefix: str,
    data: Path | None,
    out: Callable[[str], None],
    extra_args: tuple[str, ...] = (),
) -> None:
    """``python -m trainer train --publish``: the trainer's CLI is its public contract."""
    argv = [sys.executable, "-m", "trainer", "train", "--publish"]
    argv += ["--data", str(data)] if data is not None else []
    argv += list(extra_args)
    out(f"$ MODEL_BUCKET={bucket} MODEL_PREFIX={prefix} python {shlex.join(argv[1:])}")
    env = {**ctx.subprocess_env(), "MODEL_BUCKET": bucket, "MODEL_PREFIX": prefix}
    code, lines = run_streaming(argv, env=env, cwd=REPO_ROOT, out=lambda line: out(f"    {line}"))
    if code != 0:
        raise DeployError(
            f"training or publishing the model failed (exit {code}); pass --data FILE if "
            f"the UCI download is not reachable. Last lines:\n" + "\n".join(lines[-5:])
        )


def _build_layer_cli(out: Callable[[str], None], arch: str) -> Path:
    """``python -m vendor_build build`` then ``verify`` for ``arch``; returns the verified zip."""
    from vendor_build.build import ZIP_NAME, default_out

    target = ["--arch", arch, "--python-version", RUNTIME_PYTHON]
    zip_path = default_out(arch) / ZIP_NAME
    for argv in (["build", *target], ["verify", str(zip_path), *target]):
        out("$ python -m vendor_build " + " ".join(argv))
        if subprocess.run([sys.executable, "-m", "vendor_build", *argv], check=False).returncode:
            raise DeployError(f"`python -m vendor_build {argv[0]}` failed")
    return zip_path


@dataclass
class Toolchain:
    """The non-AWS tools a deploy drives; tests swap in fakes or cheaper real ones."""

    train_and_publish: Callable[..., None] = _train_and_publish_cli
    build_layer: Callable[[Callable[[str], None], str], Path] = _build_layer_cli
    chalice: Callable[[Path, dict[str, str], Callable[[str], None]], Any] = ChaliceCli
    confirm: Callable[[str], bool] = ask


@dataclass(frozen=True)
class _Stage:
    """The stage as ``.chalice/config.json`` describes it, read once per deploy.

    Deploy writes only the stage's environment (bucket, prefix, CORS origin, stage name,
    metrics namespace, capture rates) and layers into that file, none of what this holds.
    """

    stack: str  #: its CloudFormation stack, named like its function: ``<app_name>-<stage>``
    architecture: str
    api_name: str  #: the REST API's name: Chalice gives it the app's, whatever the stage
    api_stage: str
    reserved_concurrency: int | None
    timeout_seconds: int
    #: what the function will run with (read as the API reads its environment): its stage
    #: name and metrics namespace are also what the dashboard and alarms read its metrics by
    settings: Settings


def _read_stage(opts: DeployOptions) -> _Stage:
    config = load_config(opts.project_dir, opts.stage)
    stage = config["stages"][opts.stage]

    def setting(key: str, default: Any = None) -> Any:
        """Chalice's lookup: the stage's value, else the top level's, else ``default``."""
        return stage.get(key, config.get(key, default))

    try:  # deploy gives the function STAGE_NAME (``_write_stage_settings``): the stage's name
        load_settings({"STAGE_NAME": opts.stage})
    except SettingsError as exc:
        raise DeployError(f"stage {opts.stage!r} cannot name its metrics: {exc}") from exc
    environment = {
        **config.get("environment_variables", {}),
        **stage.get("environment_variables", {}),
        "STAGE_NAME": opts.stage,
    }
    try:
        settings = load_settings(environment)
    except SettingsError as exc:
        raise DeployError(f"stage {opts.stage!r} in config.json: {exc}") from exc
    reserved = setting("reserved_concurrency")
    return _Stage(
        stack=stack_name(opts.project_dir, opts.stage),
        architecture=str(setting("lambda_architecture", "x86_64")),
        api_name=str(config["app_name"]),
        api_stage=str(setting("api_gateway_stage", "api")),
        reserved_concurrency=None if reserved is None else int(reserved),
        timeout_seconds=int(setting("lambda_timeout", DEFAULT_LAMBDA_TIMEOUT)),
        settings=settings,
    )


def _parameters(opts: DeployOptions, stage: _Stage, bucket: str, layer_key: str) -> dict[str, str]:
    return {
        "ModelBucketName": bucket,
        "FeedbackPrefix": stage.settings.feedback_prefix,
        "FeedbackRetentionDays": str(stage.settings.feedback_retention_days),
        "CapturePrefix": stage.settings.capture_prefix,
        "CaptureRetentionDays": str(stage.settings.capture_retention_days),
        "CaptureRate": share_text(opts.capture[0]),
        "CaptureUncertainRate": share_text(opts.capture[1]),
        "FunctionName": stage.stack,
        "LogRetentionDays": str(opts.log_retention_days),
        "LayerKey": layer_key,
        "LayerArchitecture": stage.architecture,
        "PythonRuntime": f"python{RUNTIME_PYTHON}",
        "PageBucketName": opts.static_bucket or "",
        "StageName": stage.settings.stage_name,
        "MetricsNamespace": stage.settings.metrics_namespace,
        "ApiName": stage.api_name,
        "ApiStage": stage.api_stage,
        "DurationAlarmMilliseconds": str(duration_alarm_ms(stage.timeout_seconds)),
        "AlarmEmail": opts.alarm_email or "",
    }


def _held_capture(opts: DeployOptions, held: dict[str, str] | None) -> tuple[float, float]:
    """The capture rates asked for, else the stack's: capture once turned on stays on."""
    if opts.capture_rate is not None or opts.capture_uncertain_rate is not None:
        return opts.capture
    held = held or {}
    return float(held.get("CaptureRate", 0)), float(held.get("CaptureUncertainRate", 0))


# --- preflight: everything that can fail before anything exists ----------------------------


def _check_concurrency_quota(
    ctx: AwsContext, opts: DeployOptions, stage: _Stage, out: Callable[[str], None]
) -> None:
    """A ``reserved_concurrency`` the account cannot fit fails here, not inside chalice deploy."""
    wanted = stage.reserved_concurrency
    if wanted is None or opts.skip_api:
        return
    lam = ctx.client("lambda")
    try:
        limits = lam.get_account_settings()["AccountLimit"]
    except ClientError as exc:
        out(f"warning: could not read the Lambda concurrency quota ({error_code(exc)})")
        return
    try:
        held = lam.get_function_concurrency(FunctionName=stage.stack).get(
            "ReservedConcurrentExecutions", 0
        )
    except ClientError as exc:
        if error_code(exc) not in {"ResourceNotFoundException", "404"}:
            raise
        held = 0
    available = int(limits.get("UnreservedConcurrentExecutions", 0)) + int(held) - _MIN_UNRESERVED
    if wanted > available:
        raise DeployError(
            f"stage {opts.stage!r} reserves {wanted} concurrent executions but the account "
            f"(total {limits.get('ConcurrentExecutions')}) can reserve only {max(available, 0)} "
            f"more: ask for a higher 'Concurrent executions' quota in Service Quotas, or lower "
            f"reserved_concurrency in .chalice/config.json; nothing has been created"
        )


def _model_guard(
    ctx: AwsContext, opts: DeployOptions, bucket: str, bucket_exists: bool
) -> ModelCheck:
    """Stop before any change if the function would switch to a scikit-learn with no model."""
    runtime = opts.runtime_sklearn or pinned_sklearn_version()
    s3 = ctx.client("s3")
    check = (
        check_model(s3, bucket, opts.prefix, runtime)
        if bucket_exists
        else ModelCheck(runtime, None)
    )
    if opts.skip_api or check.found is not None:
        return check
    if opts.skip_model or not (check.empty or opts.train_missing_model):
        command = publish_command(ctx, bucket, opts.prefix, opts.data, opts.train_args)
        raise missing_model_error(check, bucket, opts.stage, command)
    return check


@dataclass
class _Preflight:
    stage: _Stage
    bucket: str
    #: ``--static-bucket``, else the stack's page bucket: a page once deployed stays served
    page: str | None
    #: ``--alarm-email``, else the stack's: an address once given keeps getting the alarms
    alarm_email: str
    #: ``--capture-rate`` / ``--capture-uncertain-rate``, else the stack's
    capture: tuple[float, float]
    stack: cfn.StackState | None
    imports: list[dict[str, Any]]
    model_check: ModelCheck


def _preflight(ctx: AwsContext, opts: DeployOptions, out: Callable[[str], None]) -> _Preflight:
    stage = _read_stage(opts)
    for given, what in ((opts.data, "--data"), (opts.layer_zip, "--layer-zip")):
        if given is not None and not given.exists():
            raise DeployError(f"{what} {given} does not exist")
    if opts.static_bucket and not (opts.static_dir / "index.html").exists():
        raise DeployError(f"no index.html in {opts.static_dir}")
    check_alarm_email(opts.alarm_email or "")
    if not opts.skip_api and shutil.which(chalice_executable()) is None:
        raise DeployError("the chalice CLI is not installed: run `make install` first")
    if opts.static_bucket and opts.skip_api and not chalice_api_url(opts.project_dir, opts.stage):
        raise DeployError(
            "--static-bucket with --skip-api needs an API deployed before (its URL goes into "
            "config.js); run once without --skip-api"
        )
    identity = preflight(ctx)
    out(f"deploying stage {opts.stage!r} to {ctx.region} as {identity.arn}")
    stack = cfn.describe(ctx.client("cloudformation"), stage.stack)
    held = stack.parameters if stack is not None and stack.usable else None
    bucket = (
        opts.bucket
        or (held or {}).get("ModelBucketName")
        or default_bucket(opts.stage, identity.account, ctx.region)
    )
    page = opts.static_bucket or (held or {}).get("PageBucketName") or None
    alarm_email = (
        opts.alarm_email if opts.alarm_email is not None else (held or {}).get("AlarmEmail", "")
    )
    s3 = ctx.client("s3")
    exists = {  # ours, in this region; someone else's name stops the deploy here
        "ModelBucket": check_bucket(s3, bucket, region=ctx.region, account=identity.account)
        == "ours",
        "PageBucket": bool(opts.static_bucket)
        and check_bucket(s3, opts.static_bucket, region=ctx.region, account=identity.account)
        == "ours",
    }
    _check_concurrency_quota(ctx, opts, stage, out)
    if held is not None and held["ModelBucketName"] != bucket:
        raise DeployError(
            f"stack {stack.name} holds model bucket {held['ModelBucketName']}, not {bucket}: "
            f"deploy with --bucket {held['ModelBucketName']}; nothing has been changed"
        )
    if held is not None and exists["PageBucket"] and held["PageBucketName"] != opts.static_bucket:
        raise DeployError(
            f"page bucket {opts.static_bucket!r} exists outside stack {stack.name}: choose "
            f"another --static-bucket or delete it first; nothing has been changed"
        )
    check = _model_guard(ctx, opts, bucket, exists["ModelBucket"])
    imports: list[dict[str, Any]] = []
    if held is None:  # a new stack adopts what exists by its names (CloudFormation import)
        log_group = f"/aws/lambda/{stage.stack}"
        groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]
        exists["FunctionLogGroup"] = any(g["logGroupName"] == log_group for g in groups)
        names = {
            "ModelBucket": ("AWS::S3::Bucket", {"BucketName": bucket}),
            "PageBucket": ("AWS::S3::Bucket", {"BucketName": opts.static_bucket}),
            "FunctionLogGroup": ("AWS::Logs::LogGroup", {"LogGroupName": log_group}),
        }
        imports = [
            {"ResourceType": kind, "LogicalResourceId": logical, "ResourceIdentifier": ident}
            for logical, (kind, ident) in names.items()
            if exists[logical]
        ]
    capture = _held_capture(opts, held)
    return _Preflight(stage, bucket, page, alarm_email, capture, stack, imports, check)


def default_bucket(stage: str, account: str, region: str) -> str:
    """``spam-classifier-<stage>-<account>-<region>``: a bucket belongs to one stage's stack.

    >>> default_bucket("prod", "123456789012", "eu-west-1")
    'spam-classifier-prod-123456789012-eu-west-1'
    """
    return f"spam-classifier-{stage}-{account}-{region}"


# --- the stack ------------------------------------------------------------------------------


def _execute(
    ctx: AwsContext,
    opts: DeployOptions,
    tools: Toolchain,
    change_set: cfn.ChangeSet,
    out: Callable[[str], None],
) -> bool:
    """Show a change set and execute it (prod asks first); False when it is empty."""
    out(f"stack {change_set.stack}: change set {change_set.name} ({change_set.kind})")
    for line in change_set.lines():
        out(line)
    if change_set.empty:
        return False
    if (
        opts.production
        and not opts.yes
        and not tools.confirm("execute this change set on stage prod? [y/N] ")
    ):
        client = ctx.client("cloudformation")
        client.delete_change_set(StackName=change_set.stack, ChangeSetName=change_set.name)
        if change_set.kind != "UPDATE":  # the stack a first change set made holds nothing yet
            client.delete_stack(StackName=change_set.stack)
        raise DeployError("not confirmed: the change set was deleted and nothing changed")
    cfn.apply(ctx.client("cloudformation"), change_set, out)
    return True


def _needs_new_layer(opts: DeployOptions, stage: _Stage, outputs: dict[str, str]) -> bool:
    """No layer in the stack, or one for another architecture, or one was asked for."""
    if opts.skip_layer:
        return False
    fits = outputs.get("LayerKey") and outputs.get("LayerArchitecture") == stage.architecture
    return not fits or opts.rebuild_layer or opts.layer_zip is not None


def _layer_key(
    ctx: AwsContext,
    opts: DeployOptions,
    tools: Toolchain,
    found: _Preflight,
    outputs: dict[str, str],
    out: Callable[[str], None],
) -> tuple[str, str]:
    """The layer zip's key in the bucket (uploaded when new) and what happened."""
    previous, arch = outputs.get("LayerKey", ""), found.stage.architecture
    if opts.skip_layer:
        return previous, "skipped (--skip-layer)"
    if not _needs_new_layer(opts, found.stage, outputs):
        return previous, "exists"
    zip_path = opts.layer_zip or tools.build_layer(out, arch)
    from vendor_build.publish import target_of_build
    from vendor_build.zipper import sha256_file

    built_for = target_of_build(zip_path)
    if built_for and built_for != (RUNTIME_PYTHON, arch):
        raise DeployError(
            f"{zip_path} was built for python{built_for[0]} on {built_for[1]}; the stage runs "
            f"python{RUNTIME_PYTHON} on {arch} (python -m vendor_build build --arch {arch})"
        )
    key = f"{LAYER_PREFIX}{sha256_file(zip_path)}.zip"
    if key == previous:
        return key, "exists"
    out(f"layer: uploading {zip_path} to s3://{found.bucket}/{key}")
    ctx.client("s3").upload_file(str(zip_path), found.bucket, key)
    return key, "published"


def _plan(ctx: AwsContext, opts: DeployOptions, out: Callable[[str], None]) -> DeployResult:
    """What deploy would do, with no AWS call (no credentials needed)."""
    stage = _read_stage(opts)
    email = check_alarm_email(opts.alarm_email or "")
    if opts.alarm_email is None:  # the stack keeps its address; the plan cannot see it
        recipient = "the stack's address, if it holds one"
    else:
        recipient = f"{email} once it confirms" if email else "no one"
    bucket = opts.bucket or default_bucket(opts.stage, "<account-id>", ctx.region)
    params = _parameters(opts, stage, bucket, f"{LAYER_PREFIX}<sha256>.zip")
    resources = cfn.template()["Resources"]
    template = cfn.TEMPLATE.relative_to(REPO_ROOT)
    lines = [
        f"plan for stage {opts.stage!r} in {ctx.region} (no AWS call is made):",
        f"  preflight: credentials, bucket names, the registry in s3://{bucket}/{opts.prefix}",
        f"  stack {stage.stack} from {template}, through change sets, with:",
        *(f"    {key} = {value}" for key, value in params.items()),
        *(
            f"    {logical}: {resource['Type']}"
            + (
                " (kept when the stack is deleted)"
                if resource.get("DeletionPolicy") == "Retain"
                else ""
            )
            for logical, resource in resources.items()
        ),
        f"  alarms: to SNS topic {stage.stack}-alarms, e-mailed to {recipient}",
        f"  capture: {_capture_plan(opts, stage.settings.capture_prefix)}",
        f"  layer: python -m vendor_build build --arch {params['LayerArchitecture']}, "
        f"uploaded to s3://{bucket}/layers/",
        f"  config: the outputs into stage {opts.stage!r} of .chalice/config.json, policy file",
        "  model: python -m trainer train --publish, if the registry has none",
        f"  api: chalice deploy --stage {opts.stage}: " + "; ".join(DEPLOY_CALLS),
        f"  throttling: {opts.throttle[0]:g}/s, POST /feedback {opts.feedback_throttle[0]:g}/s",
    ]
    if opts.static_bucket:
        lines.append(f"  page: static/ and config.js into s3://{opts.static_bucket}")
    for line in lines:
        out(line)
    return DeployResult(bucket=bucket, steps={"plan": "printed"})


def _capture_plan(opts: DeployOptions, prefix: str) -> str:
    if opts.capture_rate is None and opts.capture_uncertain_rate is None:
        return "the stack's rates, if it holds any (off on a new stack)"
    if not any(opts.capture):
        return "off: no CAPTURE_* rates, no grant on the capture prefix"
    rate, uncertain = map(share_text, opts.capture)
    return (
        f"CAPTURE_RATE={rate}, CAPTURE_UNCERTAIN_RATE={uncertain} into the stage's "
        f"environment, s3:PutObject on {prefix}pending/* into its policy"
    )


def _dry_run(
    ctx: AwsContext, opts: DeployOptions, found: _Preflight, out: Callable[[str], None]
) -> DeployResult:
    """Create the change set a deploy would execute, print it, delete it."""
    client, name = ctx.client("cloudformation"), found.stage.stack
    fresh = found.stack is None or not found.stack.usable
    outputs = {} if fresh else found.stack.outputs
    params = _parameters(opts, found.stage, found.bucket, outputs.get("LayerKey", ""))
    if found.imports:
        out("would import: " + ", ".join(i["LogicalResourceId"] for i in found.imports))
    change_set = cfn.create_change_set(client, name, params, kind="CREATE" if fresh else "UPDATE")
    out(f"dry run: stack {name}, change set {change_set.name} (not executed)")
    for line in change_set.lines():
        out(line)
    if not change_set.empty:
        client.delete_change_set(StackName=name, ChangeSetName=change_set.name)
    if fresh and found.stack is None:
        client.delete_stack(StackName=name)  # the empty REVIEW_IN_PROGRESS stack
    if _needs_new_layer(opts, found.stage, outputs):
        arch = found.stage.architecture
        out(f"then a new layer for {arch} (built, uploaded, and put in by another change set)")
    return DeployResult(
        bucket=found.bucket, steps={"dry run": f"{len(change_set.changes)} changes"}
    )


def _stack_step(
    ctx: AwsContext,
    opts: DeployOptions,
    tools: Toolchain,
    found: _Preflight,
    out: Callable[[str], None],
) -> tuple[cfn.StackState, str, str]:
    """Create or update the stack; returns it, the stack step and the layer step."""
    client, name = ctx.client("cloudformation"), found.stage.stack
    stack, changed = found.stack, False
    if stack is not None and not stack.usable and stack.status == "ROLLBACK_COMPLETE":
        out(f"stack {name} failed to create before; deleting what is left of it")
        cfn.delete_stack(client, name)
        stack = None
    if stack is None or not stack.usable:
        params = _parameters(opts, found.stage, found.bucket, "")
        if found.imports:
            ids = [i["LogicalResourceId"] for i in found.imports]
            out(f"adopting what exists outside any stack: {', '.join(ids)} (with its contents)")
            template = cfn.import_template(ids)
            imported = cfn.create_change_set(
                client, name, params, kind="IMPORT", template=template, imports=found.imports
            )
            _execute(ctx, opts, tools, imported, out)
        kind = "UPDATE" if found.imports else "CREATE"
        _execute(ctx, opts, tools, cfn.create_change_set(client, name, params, kind=kind), out)
        stack, changed = cfn.describe(client, name), True
    previous = stack.outputs.get("LayerKey")
    key, layer = _layer_key(ctx, opts, tools, found, stack.outputs, out)
    params = _parameters(opts, found.stage, found.bucket, key)
    changed |= _execute(
        ctx, opts, tools, cfn.create_change_set(client, name, params, kind="UPDATE"), out
    )
    stack = cfn.describe(client, name)
    if previous and previous != stack.outputs.get("LayerKey"):  # its layer version is gone
        ctx.client("s3").delete_object(Bucket=found.bucket, Key=previous)
    if opts.production and not stack.termination_protection:
        client.update_termination_protection(StackName=name, EnableTerminationProtection=True)
    return stack, ("created or updated" if changed else "no changes"), layer


# --- after the stack --------------------------------------------------------------------------


def _write_stage_settings(
    opts: DeployOptions, stage: _Stage, outputs: dict[str, str], out: Callable[[str], None]
) -> None:
    """Bucket, prefix, CORS origin, stage name, metrics namespace, capture rates and layer
    into config.json; the bucket, and the capture grant while capture is on, into the
    policy file.

    The stage name and namespace are what the stack's dashboard and alarms read the
    function's metrics by, so the function gets them from the same deploy. With capture
    off, the rates are removed rather than set to 0, and so is the grant.
    """
    bucket = outputs["ModelBucketName"]
    env = {
        "MODEL_BUCKET": bucket,
        "MODEL_PREFIX": opts.prefix,
        "STAGE_NAME": stage.settings.stage_name,
        "METRICS_NAMESPACE": stage.settings.metrics_namespace,
    }
    cors = opts.cors_origin or outputs.get("PageUrl")
    if cors:
        env["CORS_ALLOW_ORIGIN"] = cors
    capturing = any(opts.capture)
    if capturing:
        env.update(capture_environment(*opts.capture))
    unset = () if capturing else CAPTURE_VARIABLES
    if set_stage_environment(opts.project_dir, opts.stage, env, unset):
        out(f"config: stage {opts.stage!r} environment now has {env}")
    prefix = stage.settings.capture_prefix
    if set_capture_grant(opts.project_dir, opts.stage, bucket, prefix if capturing else None):
        granted = f"may create {prefix}pending/*" if capturing else "no longer writes captures"
        out(f"config: stage {opts.stage!r}'s role {granted}")
    if outputs.get("LayerArn") and set_stage_layer(
        opts.project_dir, opts.stage, outputs["LayerArn"]
    ):
        out(f"config: stage {opts.stage!r} now uses layer {outputs['LayerArn']}")
    policy = point_policy_at_bucket(opts.project_dir, opts.stage, bucket)
    if policy is not None:
        out(f"config: {policy.name} now names s3://{bucket}")


def _model_step(
    ctx: AwsContext,
    opts: DeployOptions,
    tools: Toolchain,
    bucket: str,
    check: ModelCheck,
    out: Callable[[str], None],
) -> str:
    runtime = check.runtime
    if opts.skip_model:
        return "skipped (--skip-model)"
    if check.found is not None:
        out(f"model: {check.found.version} (scikit-learn {runtime}) is live; not retraining")
        return "exists"
    if not check.empty and not opts.train_missing_model:  # only with --skip-api
        out(f"model: none for scikit-learn {runtime} ({check.describe_live()}); not training")
        return f"none for scikit-learn {runtime} (the function is not switched: --skip-api)"
    out(f"model: training and publishing one for scikit-learn {runtime}, s3://{bucket}")
    tools.train_and_publish(ctx, bucket, opts.prefix, opts.data, out, opts.train_args)
    if (
        check_model(ctx.client("s3"), bucket, opts.prefix, runtime).found is None
        and not opts.skip_api
    ):
        raise DeployError(
            f"the trainer published, but the registry still has no model made with scikit-learn "
            f"{runtime}: run deploy from the pinned environment (make install); the function "
            f"was not changed"
        )
    return "published"


def _throttle_step(ctx: AwsContext, opts: DeployOptions, stage: _Stage) -> str:
    """Throttle every method of the API stage (``*/*``), and POST /feedback below that."""
    if opts.throttle[0] <= 0:
        return "off (--throttle-rate 0)"
    api_id = chalice_rest_api_id(opts.project_dir, opts.stage)
    if not api_id:
        raise DeployError(f"chalice recorded no REST API id for stage {opts.stage!r}")
    limits = [("*/*", *opts.throttle)]
    if stage.settings.feedback_enabled and opts.feedback_throttle[0] > 0:
        limits.append(("~1feedback/POST", *opts.feedback_throttle))  # "/" is escaped as ~1
    ctx.client("apigateway").update_stage(
        restApiId=api_id,
        stageName=stage.api_stage,
        patchOperations=[
            {"op": "replace", "path": f"/{method}/throttling/{name}", "value": str(value)}
            for method, rate, burst in limits
            for name, value in (("rateLimit", rate), ("burstLimit", burst))
        ],
    )
    return "; ".join(f"{m.replace('~1', '/')} {r:g}/s, burst {b}" for m, r, b in limits)


def deploy(
    opts: DeployOptions,
    ctx: AwsContext,
    *,
    tools: Toolchain | None = None,
    out: Callable[[str], None] = print,
) -> DeployResult:
    """Run every deploy step for ``opts.stage``; raises :class:`DeployError` on failure."""
    tools = tools or Toolchain()
    if opts.plan:
        return _plan(ctx, opts, out)
    found = _preflight(ctx, opts, out)
    opts = replace(
        opts,
        static_bucket=found.page,
        alarm_email=found.alarm_email,
        capture_rate=found.capture[0],
        capture_uncertain_rate=found.capture[1],
    )
    if opts.dry_run:
        return _dry_run(ctx, opts, found, out)
    result = DeployResult(bucket=found.bucket)
    stack, result.steps["stack"], result.steps["layer"] = _stack_step(ctx, opts, tools, found, out)
    result.layer_arn = stack.outputs.get("LayerArn")
    result.dashboard_url = stack.outputs.get("DashboardUrl")
    _write_stage_settings(opts, found.stage, stack.outputs, out)
    result.steps["model"] = _model_step(ctx, opts, tools, found.bucket, found.model_check, out)
    if opts.skip_api:
        result.steps["api"] = "skipped (--skip-api)"
    else:
        chalice = tools.chalice(opts.project_dir, ctx.subprocess_env(), out)
        result.api_url = chalice.deploy(opts.stage)
        result.steps["api"] = "deployed"
        result.steps["throttling"] = _throttle_step(ctx, opts, found.stage)
    if opts.static_bucket:
        api_url = result.api_url or chalice_api_url(opts.project_dir, opts.stage) or ""
        upload_page(
            ctx.client("s3"),
            opts.static_bucket,
            opts.static_dir,
            config_js=page_config_js(api_url, command="deploy"),
        )
        result.page_url = stack.outputs.get("PageUrl")
        result.steps["page"] = "uploaded"
    for line in legacy_extras(opts.project_dir, opts.stage):
        out(line)
    _report(result, opts.alarm_email or "", out)
    return result


def _report(result: DeployResult, alarm_email: str, out: Callable[[str], None]) -> None:
    out("")
    for step, what in result.steps.items():
        out(f"  {step:<11} {what}")
    if result.api_url:
        out(f"\nInvoke URL: {result.api_url}\nTry it:\n  {curl_line(result.api_url)}")
    if result.page_url:
        out(f"Page: {result.page_url}")
    if result.dashboard_url:
        out(f"Dashboard: {result.dashboard_url}")
    if alarm_email:
        out(f"Alarms are e-mailed to {alarm_email} once it confirms AWS's subscription message")


# --- command line -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``deploy`` subcommand's options."""
    add_stage_arguments(parser, verb="deploy", region="AWS_REGION / profile")
    arg = parser.add_argument
    arg(
        "--bucket",
        help="model bucket (default: the stack's, else spam-classifier-<stage>-<account>-<region>)",
    )
    arg("--prefix", default=DEFAULT_PREFIX, help="model key prefix (models/)")
    arg("--data", type=Path, help="training data for the first model")
    arg(
        "--min-mcc",
        type=float,
        help="refuse to publish a first model whose holdout MCC is below this",
    )
    arg("--layer-zip", type=Path, help="use this built layer zip as is")
    arg("--rebuild-layer", action="store_true", help="build a new layer even if the stack has one")
    arg(
        "--train-missing-model",
        action="store_true",
        help="when only models for other scikit-learn versions are live, train and publish one "
        "for this stack's before switching the function (default: stop and say how)",
    )
    arg("--skip-model", action="store_true", help="do not train or publish")
    arg("--skip-layer", action="store_true", help="keep the stack's layer")
    arg("--skip-api", action="store_true", help="do not run chalice deploy")
    arg("--static-bucket", help="also serve static/ from this S3 website bucket (kept after)")
    arg("--cors-origin", help="the one origin the API allows (default: the page bucket's)")
    arg(
        "--alarm-email",
        help="e-mail the stage's alarms to this address (kept by later deploys; '' stops it)",
    )
    add_capture_options(parser, kept="kept by later deploys")
    arg("--log-retention-days", type=int, default=30, help="the function's log retention (30)")
    arg(
        "--throttle-rate",
        type=float,
        default=DEFAULT_THROTTLE[0],
        help="API requests/s before 429 (0: off)",
    )
    arg("--throttle-burst", type=int, default=DEFAULT_THROTTLE[1], help="API burst size")
    arg(
        "--feedback-throttle-rate",
        type=float,
        default=DEFAULT_FEEDBACK_THROTTLE[0],
        help="POST /feedback requests/s, under the API's (0: only the API's)",
    )
    arg(
        "--feedback-throttle-burst",
        type=int,
        default=DEFAULT_FEEDBACK_THROTTLE[1],
        help="POST /feedback burst",
    )
    arg("--static-dir", type=Path, default=STATIC_DIR, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """``python -m stack deploy``: 0 on success, 2 with a message on a known failure."""

    def deploy_stage() -> None:
        named = {f.name for f in fields(DeployOptions)} - {"project_dir", "throttle"}
        opts = DeployOptions(
            **{key: value for key, value in vars(args).items() if key in named},
            project_dir=args.project_dir.resolve(),
            train_args=() if args.min_mcc is None else ("--min-mcc", str(args.min_mcc)),
            throttle=(args.throttle_rate, args.throttle_burst),
            feedback_throttle=(args.feedback_throttle_rate, args.feedback_throttle_burst),
        )
        deploy(opts, context_from(args))

    return exit_code("deploy", deploy_stage)

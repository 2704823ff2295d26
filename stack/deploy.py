"""Deploy a stage to AWS: model bucket, model, scikit-learn layer, Chalice API, page.

``python -m stack deploy --stage prod`` (``make deploy STAGE=prod``) runs these steps in
order; each one checks what already exists and skips itself when it is done, so running
the command again is safe and cheap:

1. preflight: region, credentials (``sts:GetCallerIdentity``), the stage in the Chalice
   config, and every bucket name (ours, free, or someone else's). A problem here stops
   the deploy before anything exists.
2. model bucket: create or reuse; versioning, public access block, encryption.
3. stage settings: ``MODEL_BUCKET`` / ``MODEL_PREFIX`` (and ``CORS_ALLOW_ORIGIN``: the
   ``--cors-origin``, else the page bucket's website origin) into ``.chalice/config.json``
   and the bucket into the stage's IAM policy file, because ``chalice deploy`` reads
   them only from there.
4. model: train and publish unless the registry has a model for the stage's scikit-learn
   (``stack.model_guard``: checked in the preflight, so a function is never switched to a
   scikit-learn with nothing to load; with only other versions live, deploy stops there
   and prints the command that publishes one, unless ``--train-missing-model``).
5. layer: reuse the stage's layer if it still exists and is for the stage's
   ``lambda_architecture``, else build, verify, publish and write its ARN into the
   stage's config (vendor_build), for that architecture and this interpreter's Python.
6. API: the function's log group with a retention, ``chalice deploy --stage``, stage
   throttling (API Gateway), then the invoke URL and a ``curl`` line.
7. page (``--static-bucket``): ``static/`` plus a ``config.js`` naming the API URL.

``--dry-run`` prints every AWS call instead of making it (see ``stack.aws.DryRunClient``).
What got created is recorded as it happens (``stack.aws_state``) so that
``python -m stack destroy`` can remove it.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from chalicelib.registry_format import current_key, live_key
from chalicelib.settings import Settings, SettingsError, load_settings

from stack.aws import (
    AwsContext,
    DeployError,
    Identity,
    client_error_code,
    preflight,
)
from stack.aws_buckets import (
    check_bucket,
    ensure_feedback_expiry,
    ensure_model_bucket,
    ensure_page_bucket,
    upload_page,
    website_url,
)
from stack.aws_chalice import DEPLOY_CALLS, ChaliceCli, chalice_executable
from stack.aws_cli import DEFAULT_PROJECT_DIR, add_stage_arguments, context_from, exit_code
from stack.aws_state import (
    DeployState,
    chalice_rest_api_id,
    drop_stale_layers,
    load_config,
    point_policy_at_bucket,
    set_stage_environment,
    stage_architecture,
    stage_layers,
    state_path,
)
from stack.handoff import curl_line, page_config_js
from stack.local import REPO_ROOT, STATIC_DIR
from stack.model_guard import (
    ModelCheck,
    check_model,
    missing_model_error,
    pinned_sklearn_version,
    publish_command,
)
from stack.processes import run_streaming

__all__ = [
    "HELP",
    "DeployOptions",
    "DeployResult",
    "Toolchain",
    "add_arguments",
    "default_bucket_name",
    "deploy",
    "function_name",
    "run",
]

HELP = "deploy a stage to AWS (model bucket, model, layer, API, optional page)"

DEFAULT_PREFIX = "models/"
#: CloudWatch Logs retention for the function's log group (a cost guard: logs are billed
#: per GB stored, forever by default). Set here, not in config.json: Chalice 1.34's
#: ``log_retention_in_days`` packages a template that references a missing resource.
DEFAULT_LOG_RETENTION_DAYS = 30
#: API Gateway stage throttling (requests per second, burst): a cost and abuse guard that
#: Chalice's config cannot express. 429s beyond it, before Lambda is invoked.
DEFAULT_THROTTLE_RATE = 50.0
DEFAULT_THROTTLE_BURST = 100
#: POST /feedback's own method throttle, under the stage's: each report is an object in S3
#: that a person must review, so a flood costs storage and attention, not just requests.
DEFAULT_FEEDBACK_THROTTLE_RATE = 5.0
DEFAULT_FEEDBACK_THROTTLE_BURST = 10
#: Lambda keeps at least this much of the account's concurrency unreserved.
_MIN_UNRESERVED = 10
#: vendor_build's layer name; every stage publishes versions of it, destroy deletes its own.
LAYER_NAME = "spam-classifier-sklearn"


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
    cors_origin: str | None = None
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    throttle_rate: float = DEFAULT_THROTTLE_RATE
    throttle_burst: int = DEFAULT_THROTTLE_BURST
    feedback_throttle_rate: float = DEFAULT_FEEDBACK_THROTTLE_RATE
    feedback_throttle_burst: int = DEFAULT_FEEDBACK_THROTTLE_BURST
    #: the scikit-learn the function runs after this deploy; ``None``: the pinned one
    runtime_sklearn: str | None = None
    train_missing_model: bool = False


@dataclass
class DeployResult:
    """What a deploy did, step by step (``"created"``, ``"reused"``, ``"skipped"``...)."""

    bucket: str
    steps: dict[str, str] = field(default_factory=dict)
    api_url: str | None = None
    page_url: str | None = None
    layer_arn: str | None = None


def default_bucket_name(account: str, region: str) -> str:
    """``spam-classifier-<account>-<region>``: unique per account and region.

    >>> default_bucket_name("123456789012", "eu-west-1")
    'spam-classifier-123456789012-eu-west-1'
    """
    return f"spam-classifier-{account}-{region}"


# --- the parts that come from the trainer and vendor_build ------------------------------


def _train_and_publish_cli(
    ctx: AwsContext,
    bucket: str,
    prefix: str,
    data: Path | None,
    out: Callable[[str], None],
    extra_args: tuple[str, ...] = (),
) -> None:
    """``python -m trainer train --publish``: the trainer's CLI is its public contract.

    Bucket and prefix go in as ``MODEL_BUCKET`` / ``MODEL_PREFIX`` (the variables the API
    reads too); region, profile and endpoint as the standard AWS variables.
    """
    argv = [sys.executable, "-m", "trainer", "train", "--publish"]
    if data is not None:
        argv += ["--data", str(data)]
    argv += list(extra_args)
    shown = " ".join(shlex.quote(a) for a in argv[1:])
    out(f"$ MODEL_BUCKET={bucket} MODEL_PREFIX={prefix} python {shown}")
    env = {**ctx.subprocess_env(), "MODEL_BUCKET": bucket, "MODEL_PREFIX": prefix}
    code, lines = run_streaming(argv, env=env, cwd=REPO_ROOT, out=lambda line: out(f"    {line}"))
    if code != 0:
        raise DeployError(
            f"training or publishing the model failed (exit {code}); pass --data FILE if "
            f"the UCI download is not reachable. Last lines:\n" + "\n".join(lines[-5:])
        )


#: The Python of this interpreter: Chalice takes the function's runtime from it, so the layer
#: is built for the same one.
RUNTIME_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _default_layer_zip(arch: str = "x86_64") -> Path:
    """Where ``python -m vendor_build build --arch`` leaves the zip (imported late: slow)."""
    from vendor_build.build import ZIP_NAME, default_out

    return default_out(arch) / ZIP_NAME


def _build_layer_cli(out: Callable[[str], None], arch: str = "x86_64") -> Path:
    """``python -m vendor_build build`` then ``verify`` for ``arch``; returns the verified zip.

    arm64's verify imports and predicts in an emulated arm64 python3.13 (`make arm64-root`).
    """
    zip_path = _default_layer_zip(arch)
    target = ["--arch", arch, "--python-version", RUNTIME_PYTHON]
    for argv in (["build", *target], ["verify", str(zip_path), *target]):
        out("$ python -m vendor_build " + " ".join(argv))
        result = subprocess.run([sys.executable, "-m", "vendor_build", *argv], check=False)
        if result.returncode != 0:
            raise DeployError(f"`python -m vendor_build {argv[0]}` failed")
    return zip_path


def _publish_layer_vendor_build(
    ctx: AwsContext, zip_path: Path, bucket: str, stage: str, project_dir: Path
) -> tuple[str, dict[str, str]]:
    """vendor_build's publish with our clients: S3 upload, publish, ARN into the config."""
    from vendor_build.publish import publish_layer
    from vendor_build.zipper import sha256_file

    key = _layer_key(sha256_file(zip_path))
    arn = publish_layer(
        zip_path,
        bucket=bucket,
        key=key,
        layer_name=LAYER_NAME,
        stage=stage,
        config_path=project_dir / ".chalice" / "config.json",
        python_version=RUNTIME_PYTHON,
        architecture=stage_architecture(project_dir, stage),
        s3_client=ctx.client("s3"),
        lambda_client=ctx.client("lambda"),
    )
    return arn, {"bucket": bucket, "key": key}


def _layer_key(digest: str) -> str:
    return f"layers/{LAYER_NAME}/{digest}.zip"


@dataclass
class Toolchain:
    """The non-AWS tools a deploy drives; tests swap in fakes or cheaper real ones."""

    train_and_publish: Callable[..., None] = _train_and_publish_cli
    build_layer: Callable[[Callable[[str], None], str], Path] = _build_layer_cli
    publish_layer: Callable[..., tuple[str, dict[str, str]]] = _publish_layer_vendor_build
    chalice: Callable[[Path, dict[str, str], Callable[[str], None]], Any] = ChaliceCli


# --- the steps ---------------------------------------------------------------------------


def _preflight(
    ctx: AwsContext, opts: DeployOptions, out: Callable[[str], None]
) -> tuple[Identity, str, str | None]:
    """Everything that can fail before anything is created; returns identity and names."""
    load_config(opts.project_dir, opts.stage)
    if opts.data is not None and not opts.data.exists():
        raise DeployError(f"--data {opts.data} does not exist")
    if opts.layer_zip is not None and not opts.layer_zip.exists():
        raise DeployError(f"--layer-zip {opts.layer_zip} does not exist")
    if opts.static_bucket and not (opts.static_dir / "index.html").exists():
        raise DeployError(f"no index.html in {opts.static_dir}")
    if not opts.skip_api and shutil.which(chalice_executable()) is None:
        raise DeployError("the chalice CLI is not installed: run `make install` first")
    identity = preflight(ctx)
    out(f"deploying stage {opts.stage!r} to {ctx.region} as {identity.arn}")
    bucket = opts.bucket or default_bucket_name(identity.account, ctx.region)
    return identity, bucket, opts.static_bucket


def _model_guard(
    ctx: AwsContext,
    opts: DeployOptions,
    bucket: str,
    bucket_exists: bool,
    out: Callable[[str], None],
) -> ModelCheck:
    """Before anything changes: is there a model the deployed function will be able to load?

    Stops the deploy (nothing changed yet) when the API is to be deployed and the model
    step would not provide one: only other scikit-learn versions are live and
    ``--train-missing-model`` was not given, or ``--skip-model`` with none at all.
    """
    runtime = opts.runtime_sklearn or pinned_sklearn_version()
    if ctx.dry_run:
        out(
            f"[dry-run] would read s3://{bucket}/{current_key(opts.prefix)} and "
            f"{live_key(opts.prefix, runtime)}: is there a model made with scikit-learn "
            f"{runtime}, which the function runs after this deploy? (a first deploy has none)"
        )
    s3 = ctx.client("s3")
    check = (
        check_model(s3, bucket, opts.prefix, runtime)
        if bucket_exists
        else ModelCheck(runtime=runtime, found=None)
    )
    if opts.skip_api or check.found is not None:
        return check
    will_train = not opts.skip_model and (check.empty or opts.train_missing_model)
    if not will_train:
        command = publish_command(ctx, bucket, opts.prefix, opts.data, opts.train_args)
        raise missing_model_error(check, bucket, opts.stage, command)
    return check


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
        out(
            f"model: {check.found.version} (scikit-learn {runtime}) is live for this stack; "
            f"not retraining (publish a new one with the trainer)"
        )
        return "exists"
    if not check.empty and not opts.train_missing_model:  # only with --skip-api
        out(f"model: none for scikit-learn {runtime} ({check.describe_live()}); not training")
        return f"none for scikit-learn {runtime} (the function is not switched: --skip-api)"
    if ctx.dry_run:
        out(
            f"[dry-run] would train (python -m trainer train --publish) and publish to "
            f"s3://{bucket}/{opts.prefix}: s3.head_object, s3.put_object x4 "
            f"(<version>/vectorizer.pkl, spam_model.pkl, metrics.json, manifest.json), "
            f"then s3.put_object(Key={live_key(opts.prefix, runtime)!r}) and current.json"
        )
        return "would publish"
    out(
        f"model: training and publishing a model for scikit-learn {runtime} to s3://{bucket}/{opts.prefix}"
    )
    tools.train_and_publish(ctx, bucket, opts.prefix, opts.data, out, opts.train_args)
    after = check_model(ctx.client("s3"), bucket, opts.prefix, runtime)
    if after.found is None and not opts.skip_api:
        raise DeployError(
            f"the trainer published, but the registry still has no model made with "
            f"scikit-learn {runtime} ({after.describe_live() or 'nothing is live'}): run "
            f"deploy from the pinned environment (make install); the function was not changed"
        )
    return "published"


def _layer_architectures(ctx: AwsContext, arn: str) -> list[str] | None:
    """The layer version's ``CompatibleArchitectures`` (x86_64 when it names none); None if gone."""
    try:
        # by name: the ARN is in our account and region (checked by the caller)
        name, version = arn.split(":")[6], int(arn.split(":")[7])
        found = ctx.client("lambda").get_layer_version(LayerName=name, VersionNumber=version)
    except ClientError as exc:
        if client_error_code(exc) in {"404", "ResourceNotFoundException", "AccessDeniedException"}:
            return None
        raise
    return list(found.get("CompatibleArchitectures") or ["x86_64"])


def _check_zip_target(zip_path: Path, arch: str) -> None:
    """Refuse a zip whose build report names another architecture or Python than the stage's."""
    from vendor_build.publish import target_of_build

    built_for = target_of_build(zip_path)
    if built_for and built_for != (RUNTIME_PYTHON, arch):
        raise DeployError(
            f"{zip_path} was built for python{built_for[0]} on {built_for[1]}; the stage runs "
            f"python{RUNTIME_PYTHON} on {arch} (python -m vendor_build build --arch {arch})"
        )


def _layer_step(
    ctx: AwsContext,
    opts: DeployOptions,
    tools: Toolchain,
    bucket: str,
    identity: Identity,
    state: DeployState,
    save: Callable[[], None],
    out: Callable[[str], None],
) -> tuple[str, str | None]:
    if opts.skip_layer:
        return "skipped (--skip-layer)", None
    arch = stage_architecture(opts.project_dir, opts.stage)
    ours = f"arn:aws:lambda:{ctx.region}:{identity.account}:layer:"
    current = [a for a in stage_layers(opts.project_dir, opts.stage) if a.startswith(ours)]
    if current and not opts.rebuild_layer and not ctx.dry_run:
        architectures = _layer_architectures(ctx, current[0])
        if architectures is not None and arch in architectures:
            out(f"layer: reusing {current[0]} (--rebuild-layer publishes a new version)")
            return "exists", current[0]
        if architectures is not None:
            out(f"layer: {current[0]} is for {architectures}; the stage runs {arch}: rebuilding")
    zip_path = opts.layer_zip
    if zip_path is None:
        if ctx.dry_run:
            out(
                f"[dry-run] would run: python -m vendor_build build --arch {arch}; "
                f"python -m vendor_build verify --arch {arch}"
            )
            zip_path = _default_layer_zip(arch)
        else:
            zip_path = tools.build_layer(out, arch)
    _check_zip_target(zip_path, arch)
    if ctx.dry_run:
        key = _layer_key("<sha256>")
        out(f"[dry-run] s3.upload_file({str(zip_path)!r}, {bucket!r}, {key!r})")
        out(
            f"[dry-run] lambda.publish_layer_version(LayerName={LAYER_NAME!r}, Content="
            f"{{'S3Bucket': {bucket!r}, 'S3Key': {key!r}}}, CompatibleRuntimes="
            f"['python{RUNTIME_PYTHON}'], CompatibleArchitectures=[{arch!r}])"
        )
        out(f"[dry-run] would write the new layer ARN into {opts.project_dir}/.chalice/config.json")
        return "would publish", None
    for stale in drop_stale_layers(opts.project_dir, opts.stage, LAYER_NAME, ours):
        out(f"config: dropped layer {stale} (placeholder or another account/region)")
    arn, obj = tools.publish_layer(ctx, zip_path, bucket, opts.stage, opts.project_dir)
    state.layer_version_arns.append(arn)
    if obj and obj not in state.layer_objects:
        state.layer_objects.append(obj)
    save()
    out(f"layer: published {arn}")
    return "published", arn


def function_name(project_dir: Path, stage: str) -> str:
    """The Lambda function Chalice names for the REST API handler: ``<app>-<stage>``."""
    return f"{load_config(project_dir, stage)['app_name']}-{stage}"


def _reserved_concurrency(project_dir: Path, stage: str) -> int | None:
    config = load_config(project_dir, stage)
    value = config["stages"][stage].get("reserved_concurrency", config.get("reserved_concurrency"))
    return None if value is None else int(value)


def _check_concurrency_quota(
    ctx: AwsContext, opts: DeployOptions, out: Callable[[str], None]
) -> None:
    """Fail early when the stage's ``reserved_concurrency`` cannot fit the account's quota.

    New accounts often have a total concurrency of 10, all of which Lambda must keep
    unreserved; ``chalice deploy`` would then fail after the role and function exist.
    """
    wanted = _reserved_concurrency(opts.project_dir, opts.stage)
    if wanted is None or opts.skip_api:
        return
    if ctx.dry_run:
        out(f"[dry-run] lambda.get_account_settings() (is there room to reserve {wanted}?)")
        return
    lam = ctx.client("lambda")
    try:
        limits = lam.get_account_settings()["AccountLimit"]
    except ClientError as exc:
        out(f"warning: could not read the Lambda concurrency quota ({client_error_code(exc)})")
        return
    held = 0
    try:
        held = int(
            lam.get_function_concurrency(
                FunctionName=function_name(opts.project_dir, opts.stage)
            ).get("ReservedConcurrentExecutions", 0)
        )
    except ClientError as exc:
        if client_error_code(exc) not in {"ResourceNotFoundException", "404"}:
            raise
    available = int(limits.get("UnreservedConcurrentExecutions", 0)) + held - _MIN_UNRESERVED
    if wanted > available:
        total = limits.get("ConcurrentExecutions")
        raise DeployError(
            f"stage {opts.stage!r} reserves {wanted} concurrent executions but the account "
            f"(total {total}) can reserve only {max(available, 0)} more: ask for a higher "
            f"'Concurrent executions' quota in Service Quotas, or lower reserved_concurrency "
            f"in .chalice/config.json; nothing has been created"
        )


def _log_group_step(
    ctx: AwsContext, opts: DeployOptions, state: DeployState, out: Callable[[str], None]
) -> str:
    """Create the function's log group with a retention, before Lambda makes one without."""
    if opts.skip_api:
        return "skipped (--skip-api)"
    name = f"/aws/lambda/{function_name(opts.project_dir, opts.stage)}"
    logs = ctx.client("logs")
    try:
        logs.create_log_group(logGroupName=name)
    except ClientError as exc:
        if client_error_code(exc) != "ResourceAlreadyExistsException":
            raise
    logs.put_retention_policy(logGroupName=name, retentionInDays=opts.log_retention_days)
    state.log_group = name
    return f"{name}, {opts.log_retention_days} days"


def stage_api_settings(project_dir: Path, stage: str) -> Settings:
    """The settings the stage's function will run with (config.json's, read as the API reads)."""
    config = load_config(project_dir, stage)
    env = {
        **config.get("environment_variables", {}),
        **config["stages"][stage].get("environment_variables", {}),
    }
    try:
        return load_settings(env)
    except SettingsError as exc:
        raise DeployError(f"stage {stage!r} in config.json: {exc}") from exc


def _feedback_expiry_step(
    ctx: AwsContext, opts: DeployOptions, bucket: str, out: Callable[[str], None]
) -> str:
    """Unreviewed and rejected reports expire after FEEDBACK_RETENTION_DAYS, old versions too."""
    settings = stage_api_settings(opts.project_dir, opts.stage)
    changed = ensure_feedback_expiry(
        ctx.client("s3"),
        bucket,
        prefix=settings.feedback_prefix,
        days=settings.feedback_retention_days,
        out=out,
    )
    return f"{settings.feedback_retention_days} days" + ("" if changed else " (already set)")


def _throttle_step(ctx: AwsContext, opts: DeployOptions) -> str:
    """Throttle every method of the stage (``*/*``), and POST /feedback below that.

    Idempotent, and survives redeploys (method settings live on the stage).
    """
    if opts.throttle_rate <= 0:
        return "off (--throttle-rate 0)"
    api_id = "<rest-api-id>" if ctx.dry_run else chalice_rest_api_id(opts.project_dir, opts.stage)
    if not api_id:
        raise DeployError(f"chalice recorded no REST API id for stage {opts.stage!r}")
    config = load_config(opts.project_dir, opts.stage)
    stage_name = config["stages"][opts.stage].get(
        "api_gateway_stage", config.get("api_gateway_stage", "api")
    )
    limits = [("*/*", opts.throttle_rate, opts.throttle_burst)]
    feedback_on = stage_api_settings(opts.project_dir, opts.stage).feedback_enabled
    if feedback_on and opts.feedback_throttle_rate > 0:
        # a method path escapes its slashes as ~1: /feedback POST is ~1feedback/POST
        limits.append(
            ("~1feedback/POST", opts.feedback_throttle_rate, opts.feedback_throttle_burst)
        )
    ctx.client("apigateway").update_stage(
        restApiId=api_id,
        stageName=stage_name,
        patchOperations=[
            {"op": "replace", "path": f"/{method}/throttling/{name}", "value": str(value)}
            for method, rate, burst in limits
            for name, value in (("rateLimit", rate), ("burstLimit", burst))
        ],
    )
    said = f"{opts.throttle_rate:g} requests/s, burst {opts.throttle_burst}"
    if len(limits) > 1:
        rate, burst = opts.feedback_throttle_rate, opts.feedback_throttle_burst
        said += f"; POST /feedback {rate:g}/s, burst {burst}"
    return said


def _stage_settings_step(
    ctx: AwsContext,
    opts: DeployOptions,
    bucket: str,
    page_bucket: str | None,
    out: Callable[[str], None],
) -> None:
    """Bucket, prefix and CORS origin into the stage's config, bucket into its policy.

    The CORS origin is ``--cors-origin``, else the page bucket's website origin (so the
    page can call the API), else whatever the config already says.
    """
    env = {"MODEL_BUCKET": bucket, "MODEL_PREFIX": opts.prefix}
    cors_origin = opts.cors_origin or (
        website_url(page_bucket, ctx.region) if page_bucket else None
    )
    if cors_origin:
        env["CORS_ALLOW_ORIGIN"] = cors_origin
    if ctx.dry_run:
        out(f"[dry-run] would set {env} in stage {opts.stage!r} of .chalice/config.json")
        out(f"[dry-run] would point the stage's IAM policy file at s3://{bucket}")
        return
    if set_stage_environment(opts.project_dir, opts.stage, env):
        out(f"config: stage {opts.stage!r} environment now has {env}")
    policy = point_policy_at_bucket(opts.project_dir, opts.stage, bucket)
    if policy is not None:
        out(f"config: {policy.name} now grants read access to s3://{bucket} only")


def deploy(
    opts: DeployOptions,
    ctx: AwsContext,
    *,
    tools: Toolchain | None = None,
    out: Callable[[str], None] = print,
) -> DeployResult:
    """Run every deploy step for ``opts.stage``; raises :class:`DeployError` on failure."""
    tools = tools or Toolchain()
    if ctx.dry_run:
        out("dry run: no AWS call is made; calls are shown as for a first deploy")
    identity, bucket, page_bucket = _preflight(ctx, opts, out)
    s3 = ctx.client("s3")
    model_state = check_bucket(s3, bucket, region=ctx.region, account=identity.account)
    page_state = (
        check_bucket(s3, page_bucket, region=ctx.region, account=identity.account)
        if page_bucket
        else None
    )
    _check_concurrency_quota(ctx, opts, out)
    model_check = _model_guard(ctx, opts, bucket, model_state == "ours", out)
    result = DeployResult(bucket=bucket)
    path = state_path(opts.project_dir, opts.stage)
    state = DeployState.load(path, opts.stage)
    if state.region and state.region != ctx.region:
        raise DeployError(
            f"stage {opts.stage!r} is deployed in {state.region} (see {path}); destroy it "
            f"there first or deploy with --region {state.region}"
        )

    if page_bucket and opts.skip_api and not state.api_url and not ctx.dry_run:
        raise DeployError(
            "--static-bucket with --skip-api needs an API deployed before (its URL goes "
            "into config.js); run once without --skip-api"
        )

    def save() -> None:
        if not ctx.dry_run:
            state.save(path)

    state.region, state.account = ctx.region, identity.account

    plain_http = (ctx.endpoint_url or "").startswith("http://")
    created = ensure_model_bucket(
        s3, bucket, region=ctx.region, state=model_state, require_tls=not plain_http, out=out
    )
    result.steps["model bucket"] = "created" if created else "reused"
    state.model_bucket, state.model_prefix = bucket, opts.prefix
    state.model_bucket_created = state.model_bucket_created or created
    save()
    result.steps["feedback expiry"] = _feedback_expiry_step(ctx, opts, bucket, out)

    _stage_settings_step(ctx, opts, bucket, page_bucket, out)
    result.steps["model"] = _model_step(ctx, opts, tools, bucket, model_check, out)
    result.steps["layer"], result.layer_arn = _layer_step(
        ctx, opts, tools, bucket, identity, state, save, out
    )

    result.steps["log group"] = _log_group_step(ctx, opts, state, out)
    save()
    if opts.skip_api:
        result.steps["api"] = "skipped (--skip-api)"
    elif ctx.dry_run:
        out(f"[dry-run] would run: chalice deploy --stage {opts.stage} (in {opts.project_dir})")
        for call in DEPLOY_CALLS:
            out(f"[dry-run]   {call}")
        result.steps["api"] = "would deploy"
    else:
        chalice = tools.chalice(opts.project_dir, ctx.subprocess_env(), out)
        result.api_url = chalice.deploy(opts.stage)
        state.api_url = result.api_url
        save()
        result.steps["api"] = "deployed"
    if not opts.skip_api:
        result.steps["throttling"] = _throttle_step(ctx, opts)

    if page_bucket and page_state is not None:
        api_url = result.api_url or state.api_url or "https://<rest-api-id>.execute-api/api"
        made = ensure_page_bucket(s3, page_bucket, region=ctx.region, state=page_state, out=out)
        state.page_bucket = page_bucket
        state.page_bucket_created = state.page_bucket_created or made
        save()
        config_js = page_config_js(api_url, command="deploy")
        upload_page(s3, page_bucket, opts.static_dir, config_js=config_js)
        result.page_url = website_url(page_bucket, ctx.region)
        state.page_url = result.page_url
        save()
        result.steps["page"] = "would upload" if ctx.dry_run else "uploaded"

    _report(result, out)
    return result


def _report(result: DeployResult, out: Callable[[str], None]) -> None:
    out("")
    for step, what in result.steps.items():
        out(f"  {step:<13} {what}")
    if result.api_url:
        out(f"\nInvoke URL: {result.api_url}")
        out(f"Try it:\n  {curl_line(result.api_url)}")
    if result.page_url:
        out(f"Page: {result.page_url}")


# --- command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``deploy`` subcommand's options."""
    add_stage_arguments(parser, verb="deploy", region="AWS_REGION / profile")
    parser.add_argument(
        "--bucket", help="model bucket (default spam-classifier-<account>-<region>)"
    )
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="model key prefix (models/)")
    parser.add_argument("--data", type=Path, help="training data for the first model")
    parser.add_argument(
        "--min-mcc",
        type=float,
        help="refuse to publish a first model whose holdout MCC is below this",
    )
    parser.add_argument("--layer-zip", type=Path, help="publish this built layer zip as is")
    parser.add_argument(
        "--rebuild-layer", action="store_true", help="publish a new layer even if one exists"
    )
    parser.add_argument(
        "--train-missing-model",
        action="store_true",
        help="when only models for other scikit-learn versions are live, train and publish "
        "one for this stack's before switching the function (default: stop and say how)",
    )
    parser.add_argument("--skip-model", action="store_true", help="do not train or publish")
    parser.add_argument("--skip-layer", action="store_true", help="keep the stage's layer")
    parser.add_argument("--skip-api", action="store_true", help="do not run chalice deploy")
    parser.add_argument("--static-bucket", help="also upload static/ to this S3 website bucket")
    parser.add_argument(
        "--cors-origin",
        help="the one origin the API allows (CORS_ALLOW_ORIGIN; default: the page bucket's)",
    )
    parser.add_argument(
        "--log-retention-days",
        type=int,
        default=DEFAULT_LOG_RETENTION_DAYS,
        help=f"CloudWatch Logs retention of the function (default {DEFAULT_LOG_RETENTION_DAYS})",
    )
    parser.add_argument(
        "--throttle-rate",
        type=float,
        default=DEFAULT_THROTTLE_RATE,
        help=f"API requests per second before 429 (default {DEFAULT_THROTTLE_RATE:g}; 0: off)",
    )
    parser.add_argument(
        "--throttle-burst",
        type=int,
        default=DEFAULT_THROTTLE_BURST,
        help=f"API burst size (default {DEFAULT_THROTTLE_BURST})",
    )
    parser.add_argument(
        "--feedback-throttle-rate",
        type=float,
        default=DEFAULT_FEEDBACK_THROTTLE_RATE,
        help="POST /feedback requests per second before 429, under the stage's (default "
        f"{DEFAULT_FEEDBACK_THROTTLE_RATE:g}; 0: only the stage's)",
    )
    parser.add_argument(
        "--feedback-throttle-burst",
        type=int,
        default=DEFAULT_FEEDBACK_THROTTLE_BURST,
        help=f"POST /feedback burst size (default {DEFAULT_FEEDBACK_THROTTLE_BURST})",
    )
    parser.add_argument("--static-dir", type=Path, default=STATIC_DIR, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """``python -m stack deploy``: 0 on success, 2 with a message on a known failure."""

    def deploy_stage() -> None:
        opts = DeployOptions(
            stage=args.stage,
            project_dir=args.project_dir.resolve(),
            bucket=args.bucket,
            prefix=args.prefix,
            data=args.data,
            train_args=() if args.min_mcc is None else ("--min-mcc", str(args.min_mcc)),
            layer_zip=args.layer_zip,
            rebuild_layer=args.rebuild_layer,
            skip_model=args.skip_model,
            skip_layer=args.skip_layer,
            skip_api=args.skip_api,
            static_bucket=args.static_bucket,
            static_dir=args.static_dir,
            cors_origin=args.cors_origin,
            log_retention_days=args.log_retention_days,
            throttle_rate=args.throttle_rate,
            throttle_burst=args.throttle_burst,
            feedback_throttle_rate=args.feedback_throttle_rate,
            feedback_throttle_burst=args.feedback_throttle_burst,
            train_missing_model=args.train_missing_model,
        )
        deploy(opts, context_from(args))

    return exit_code("deploy", deploy_stage)

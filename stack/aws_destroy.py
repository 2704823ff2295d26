"""Tear down a deployed stage: ``python -m stack destroy --stage prod``.

Removes what ``python -m stack deploy`` created and nothing else:

- ``chalice delete --stage`` (function, role, REST API: Chalice's own records);
- the function's log group (deploy made it, to give it a retention);
- the layer versions this deploy published and their zip objects in S3 (from the
  extras state file, see ``stack.aws_state``);
- the page bucket, when deploy created it (it holds only copies of ``static/``).

The model bucket and its models stay: they are the product's data, versioned so that
rollbacks work, and cheap at rest. ``--delete-model-bucket`` deletes it with every
object version, and only when deploy created it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from stack.aws import AwsContext, DeployError, client_error_code, preflight
from stack.aws_buckets import delete_bucket_and_contents
from stack.aws_chalice import ChaliceCli
from stack.aws_cli import add_stage_arguments, context_from, exit_code
from stack.aws_state import DeployState, state_path

__all__ = ["HELP", "DestroyResult", "add_arguments", "destroy", "run"]

HELP = "remove a deployed stage from AWS (keeps the model bucket unless asked)"


@dataclass
class DestroyResult:
    """What was removed and what was kept on purpose."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _layer_name_and_version(arn: str) -> tuple[str, int]:
    """``arn:aws:lambda:R:A:layer:NAME:7`` -> ``("NAME", 7)``."""
    parts = arn.split(":")
    return parts[6], int(parts[7])


def _gone(exc: ClientError) -> bool:
    return client_error_code(exc) in {"404", "NoSuchKey", "NoSuchBucket", "NotFound"} or (
        client_error_code(exc) == "ResourceNotFoundException"
    )


def destroy(
    ctx: AwsContext,
    project_dir: Path,
    stage: str,
    *,
    delete_model_bucket: bool = False,
    chalice_factory: Callable[..., Any] = ChaliceCli,
    out: Callable[[str], None] = print,
) -> DestroyResult:
    """Remove the stage's API, layers and page bucket; the model bucket only if asked."""
    path = state_path(project_dir, stage)
    state = DeployState.load(path, stage)
    if state.region and state.region != ctx.region:
        raise DeployError(
            f"stage {stage!r} was deployed to {state.region}, not {ctx.region}: run destroy "
            f"with --region {state.region}"
        )
    deployed = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists() and not deployed.exists():
        out(f"nothing recorded for stage {stage!r} in {deployed.parent}: nothing to remove")
        return DestroyResult()
    if ctx.dry_run:
        out("dry run: no AWS call is made")
    preflight(ctx)
    result = DestroyResult()

    if deployed.exists():
        if ctx.dry_run:
            out(f"[dry-run] would run: chalice delete --stage {stage} (in {project_dir})")
        else:
            chalice_factory(project_dir, ctx.subprocess_env(), out).delete(stage)
        result.removed.append(f"chalice stage {stage}")

    lam, s3 = ctx.client("lambda"), ctx.client("s3")
    for arn in list(state.layer_version_arns):
        name, version = _layer_name_and_version(arn)
        lam.delete_layer_version(LayerName=name, VersionNumber=version)  # idempotent in AWS
        result.removed.append(arn)
        state.layer_version_arns.remove(arn)
    for obj in list(state.layer_objects):
        try:
            s3.delete_object(Bucket=obj["bucket"], Key=obj["key"])
        except ClientError as exc:
            if not _gone(exc):
                raise
        result.removed.append(f"s3://{obj['bucket']}/{obj['key']}")
        state.layer_objects.remove(obj)
    if state.log_group:
        try:
            ctx.client("logs").delete_log_group(logGroupName=state.log_group)
        except ClientError as exc:
            if not _gone(exc):
                raise
        result.removed.append(f"log group {state.log_group}")
        state.log_group = ""
    if not ctx.dry_run:
        state.save(path)

    if state.page_bucket and state.page_bucket_created:
        _delete_bucket(ctx, state.page_bucket, out)
        result.removed.append(f"s3://{state.page_bucket}")
        state.page_bucket, state.page_bucket_created, state.page_url = "", False, ""
    elif state.page_bucket:
        result.kept.append(f"s3://{state.page_bucket} (not created by deploy)")

    if state.model_bucket and delete_model_bucket and state.model_bucket_created:
        _delete_bucket(ctx, state.model_bucket, out)
        result.removed.append(f"s3://{state.model_bucket} (with every model version)")
        state.model_bucket, state.model_bucket_created = "", False
    elif state.model_bucket:
        why = (
            "not created by deploy; delete it yourself"
            if delete_model_bucket
            else "models are kept; --delete-model-bucket removes them"
        )
        result.kept.append(f"s3://{state.model_bucket} ({why})")

    if not ctx.dry_run:
        if state.model_bucket:
            state.api_url = ""
            state.save(path)
        else:
            path.unlink(missing_ok=True)
    for line in result.removed:
        out(f"removed {line}")
    for line in result.kept:
        out(f"kept    {line}")
    return result


def _delete_bucket(ctx: AwsContext, name: str, out: Callable[[str], None]) -> None:
    if ctx.dry_run:
        out(f"[dry-run] s3.list_object_versions(Bucket={name!r}) then s3.delete_objects(...)")
        out(f"[dry-run] s3.delete_bucket(Bucket={name!r})")
        return
    try:
        count = delete_bucket_and_contents(ctx.client("s3"), name)
    except ClientError as exc:
        if _gone(exc):
            return
        raise
    out(f"deleted s3://{name} ({count} object versions)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``destroy`` subcommand's options."""
    add_stage_arguments(parser, verb="remove", region="the one deploy recorded")
    parser.add_argument(
        "--delete-model-bucket",
        action="store_true",
        help="also delete the model bucket and every model in it (irreversible)",
    )


def run(args: argparse.Namespace) -> int:
    """``python -m stack destroy``: 0 on success, 2 with a message on a known failure."""
    project_dir = args.project_dir.resolve()

    def destroy_stage() -> None:
        recorded = DeployState.load(state_path(project_dir, args.stage), args.stage).region
        ctx = context_from(args, region=recorded or None)
        destroy(ctx, project_dir, args.stage, delete_model_bucket=args.delete_model_bucket)

    return exit_code("destroy", destroy_stage)

"""Tear down a deployed stage: ``python -m stack destroy --stage prod``.

``chalice delete --stage`` (function, role, REST API), then the stage's stack: the layer,
the log group and the page bucket (emptied first: CloudFormation deletes only empty
buckets) go with it. The model bucket has a Retain policy, so the models stay; a later
deploy imports it back into a new stack. ``--delete-model-bucket`` deletes it too, with
every object version. prod's stack has termination protection: destroy asks, then lifts it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.aws import cfn
from stack.aws.buckets import delete_bucket_and_contents, empty_bucket
from stack.aws.chalice_project import LAYER_PREFIX, ChaliceCli, legacy_extras, stack_name
from stack.aws.context import (
    AwsContext,
    DeployError,
    add_stage_arguments,
    ask,
    context_from,
    exit_code,
    preflight,
)

__all__ = ["HELP", "DestroyResult", "add_arguments", "destroy", "run"]

HELP = "remove a deployed stage from AWS (keeps the model bucket unless asked)"


@dataclass
class DestroyResult:
    """What was removed and what was kept on purpose."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _plan(project_dir: Path, stage: str, delete_model_bucket: bool, out: Callable[[str], None]):
    """What destroy removes and keeps, from the template alone (no AWS call)."""
    out(
        f"plan: chalice delete --stage {stage}, then delete stack {stack_name(project_dir, stage)}:"
    )
    for logical, resource in cfn.template()["Resources"].items():
        retained = resource.get("DeletionPolicy") == "Retain"
        what = "kept" if retained and not delete_model_bucket else "removed"
        out(f"  {what:<7} {logical} ({resource['Type']})")
    return DestroyResult()


def destroy(
    ctx: AwsContext,
    project_dir: Path,
    stage: str,
    *,
    delete_model_bucket: bool = False,
    plan: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    chalice_factory: Callable[..., Any] = ChaliceCli,
    confirm: Callable[[str], bool] = ask,
    out: Callable[[str], None] = print,
) -> DestroyResult:
    """Remove the stage's API and stack; the model bucket only if asked."""
    if plan:
        return _plan(project_dir, stage, delete_model_bucket, out)
    preflight(ctx)
    client, name = ctx.client("cloudformation"), stack_name(project_dir, stage)
    stack = cfn.describe(client, name)
    deployed = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    if stack is None and not deployed.exists():
        out(f"no stack {name} in {ctx.region} and no Chalice deployment of stage {stage!r}")
        for line in legacy_extras(project_dir, stage):
            out(line)
        return DestroyResult()
    result = DestroyResult()
    made = stack is not None and stack.usable  # not a change set's empty shell
    bucket = stack.parameters.get("ModelBucketName", "") if made else ""
    page = stack.parameters.get("PageBucketName", "") if made else ""
    if dry_run:
        resources = (
            client.list_stack_resources(StackName=name)["StackResourceSummaries"] if stack else []
        )
        for r in resources:
            kept = r["LogicalResourceId"] == "ModelBucket" and not delete_model_bucket
            (result.kept if kept else result.removed).append(
                f"{r['PhysicalResourceId']} ({r['ResourceType']})"
            )
        if deployed.exists():
            result.removed.insert(0, f"chalice stage {stage}")
        for verb, items in (("would remove", result.removed), ("would keep", result.kept)):
            for item in items:
                out(f"{verb} {item}")
        return result
    if stack is not None and stack.termination_protection:
        if not yes and not confirm(
            f"stack {name} is protected; delete stage {stage} anyway? [y/N] "
        ):
            raise DeployError("not confirmed: nothing was removed")
        client.update_termination_protection(StackName=name, EnableTerminationProtection=False)
    if deployed.exists():
        chalice_factory(project_dir, ctx.subprocess_env(), out).delete(stage)
        result.removed.append(f"chalice stage {stage}")
    if stack is not None:
        s3 = ctx.client("s3")
        if page:
            empty_bucket(s3, page)
        cfn.delete_stack(client, name)
        result.removed.append(f"stack {name}" + (f" (with s3://{page})" if page else ""))
        if bucket and delete_model_bucket:
            count = delete_bucket_and_contents(s3, bucket)
            result.removed.append(f"s3://{bucket} ({count} object versions)")
        elif bucket:  # the layer zips served only the stack's layer
            count = empty_bucket(s3, bucket, prefix=LAYER_PREFIX)
            result.removed.append(f"s3://{bucket}/{LAYER_PREFIX} ({count} object versions)")
            result.kept.append(
                f"s3://{bucket} (models are kept; --delete-model-bucket removes them)"
            )
    for line in result.removed:
        out(f"removed {line}")
    for line in result.kept:
        out(f"kept    {line}")
    for line in legacy_extras(project_dir, stage):
        out(line)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``destroy`` subcommand's options."""
    add_stage_arguments(parser, verb="remove", region="AWS_REGION / profile")
    parser.add_argument(
        "--delete-model-bucket",
        action="store_true",
        help="also delete the model bucket and every model in it (irreversible)",
    )


def run(args: argparse.Namespace) -> int:
    """``python -m stack destroy``: 0 on success, 2 with a message on a known failure."""
    return exit_code(
        "destroy",
        lambda: destroy(
            context_from(args),
            args.project_dir.resolve(),
            args.stage,
            delete_model_bucket=args.delete_model_bucket,
            plan=args.plan,
            dry_run=args.dry_run,
            yes=args.yes,
        ),
    )

"""The stage's CloudFormation stack (``stack/aws/template.json``): read it, change it, delete it.

Every change goes through a change set: it is created, shown, and executed only when it
holds changes (a redeploy with nothing new executes nothing), then waited for; a failure
shows the stack's failed events. CloudFormation does the rest: ordering, rollback, drift,
and deleting everything it made.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError
from chalicelib.s3_errors import error_code

from stack.aws.context import DeployError

__all__ = [
    "TEMPLATE",
    "ChangeSet",
    "StackState",
    "apply",
    "create_change_set",
    "delete_stack",
    "describe",
    "import_template",
    "template",
]

TEMPLATE = Path(__file__).with_name("template.json")


@cache
def template() -> dict[str, Any]:
    """``TEMPLATE``, parsed (once); never modified in place."""
    return json.loads(TEMPLATE.read_text())


_WAIT = {"Delay": 5, "MaxAttempts": 360}  # 30 minutes: a layer version can take a while


@dataclass(frozen=True)
class StackState:
    """What ``DescribeStacks`` says about the stack."""

    name: str
    status: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    termination_protection: bool

    @property
    def usable(self) -> bool:
        """False for a stack that never got created (a CREATE change set or a failed create)."""
        return self.status not in {"REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE"}


@dataclass
class ChangeSet:
    """A created change set; ``changes`` as ``(action, logical id, type, replacement)``.

    ``empty``: CloudFormation found nothing to change. One that is not empty may still list
    no resource change (new outputs or parameters only) and is executed all the same.
    """

    stack: str
    name: str
    kind: str
    changes: list[tuple[str, str, str, str]] = field(default_factory=list)
    empty: bool = False

    def lines(self) -> list[str]:
        if self.empty:
            return ["  (no changes)"]
        if not self.changes:
            return ["  (no resource changes: parameters or outputs only)"]
        return [
            f"  {action:<7} {logical} ({kind})" + (f", replaced: {replace}" if replace else "")
            for action, logical, kind, replace in self.changes
        ]


def describe(cfn: Any, name: str) -> StackState | None:
    """The stack, or ``None`` when there is none (or only a deleted one)."""
    try:
        found = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    return StackState(
        name=name,
        status=found["StackStatus"],
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])
        },
        outputs={o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs") or []},
        termination_protection=bool(found.get("EnableTerminationProtection")),
    )


#: The property that names each importable resource (its identifier in an import).
_NAME_PROPERTY = {"AWS::S3::Bucket": "BucketName", "AWS::Logs::LogGroup": "LogGroupName"}


def import_template(logical_ids: Sequence[str]) -> str:
    """What an import of ``logical_ids`` into a new stack may hold: those, with no outputs.

    Each keeps only its name: the update that follows then sets every other property, so
    an adopted bucket gets the template's versioning, encryption and lifecycle rather than
    keeping whatever it had (an import records a resource, it changes nothing).
    """
    resources = {}
    for logical in logical_ids:
        resource = template()["Resources"][logical]
        name = _NAME_PROPERTY[resource["Type"]]
        resources[logical] = {**resource, "Properties": {name: resource["Properties"][name]}}
    kept = {key: value for key, value in template().items() if key != "Outputs"}
    return json.dumps({**kept, "Resources": resources})


def create_change_set(
    cfn: Any,
    stack: str,
    parameters: dict[str, str],
    *,
    kind: str,
    template: str | None = None,
    imports: Sequence[dict[str, Any]] = (),
) -> ChangeSet:
    """Create a change set and wait until CloudFormation has computed it.

    One with nothing to change is deleted and returned empty (CloudFormation marks it
    FAILED; some emulators refuse to create it).
    """
    name = f"deploy-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    extra: dict[str, Any] = {"ResourcesToImport": list(imports)} if imports else {}
    try:
        cfn.create_change_set(
            StackName=stack,
            ChangeSetName=name,
            ChangeSetType=kind,
            TemplateBody=template or TEMPLATE.read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            **extra,
        )
    except ClientError as exc:
        if "No updates are to be performed" in str(exc):
            return ChangeSet(stack, name, kind, empty=True)
        raise
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig=_WAIT
        )
    except WaiterError:
        found = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        reason = found.get("StatusReason") or ""
        if "didn't contain changes" in reason or "No updates" in reason:
            cfn.delete_change_set(StackName=stack, ChangeSetName=name)
            return ChangeSet(stack, name, kind, empty=True)
        raise DeployError(f"CloudFormation could not create change set {name}: {reason}") from None
    found = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
    changes = [
        (
            c["ResourceChange"]["Action"],
            c["ResourceChange"]["LogicalResourceId"],
            c["ResourceChange"]["ResourceType"],
            c["ResourceChange"].get("Replacement", ""),
        )
        for c in found.get("Changes", [])
    ]
    return ChangeSet(stack, name, kind, changes)


def _failures(cfn: Any, stack: str, since: float) -> str:
    """The stack's failed events since ``since`` (epoch seconds), oldest first."""
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    failed = [
        f"  {e['LogicalResourceId']}: {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
        for e in reversed(events)
        if e["ResourceStatus"].endswith("FAILED") and e["Timestamp"].timestamp() >= since - 1
    ]
    return "\n".join(failed) or "  (no failed event recorded)"


def _wait(cfn: Any, stack: str, waiter: str, since: float, what: str) -> None:
    try:
        cfn.get_waiter(waiter).wait(StackName=stack, WaiterConfig=_WAIT)
    except WaiterError:
        raise DeployError(
            f"{what} of stack {stack} failed; CloudFormation rolled back what it had "
            f"done. Its events:\n{_failures(cfn, stack, since)}"
        ) from None


def apply(cfn: Any, change_set: ChangeSet, out: Callable[[str], None]) -> None:
    """Execute a change set and wait for the stack; raises with the failed events."""
    since = time.time()
    out(f"stack {change_set.stack}: executing change set {change_set.name}")
    cfn.execute_change_set(StackName=change_set.stack, ChangeSetName=change_set.name)
    waiter = {"CREATE": "stack_create_complete", "IMPORT": "stack_import_complete"}
    _wait(
        cfn,
        change_set.stack,
        waiter.get(change_set.kind, "stack_update_complete"),
        since,
        "the change",
    )


def delete_stack(cfn: Any, stack: str) -> None:
    """Delete the stack and wait; retained resources (the model bucket) stay."""
    since = time.time()
    cfn.delete_stack(StackName=stack)
    _wait(cfn, stack, "stack_delete_complete", since, "deleting")

"""moto's server with what its CloudFormation lacks for ``python -m stack deploy``.

moto 5.2.5 runs change sets, but six gaps stop the deploy's own code paths:

- it compares a new change set with the parameters the stack was created with, so a
  redeploy never finds an empty change set; here it is compared with the last executed;
- it builds a stack's outputs when the stack object is made, and a CREATE change set makes
  it with an empty template, so ``DescribeStacks`` never shows outputs of a stack made or
  updated through ``ExecuteChangeSet``; they are rebuilt after each execution;
- an ``AWS::Lambda::LayerVersion`` ignores its ``LayerName`` and architectures, ``Ref`` of
  it resolves to nothing, a change of its content is never applied, and deleting the stack
  keeps it; here it is named and published as written, ``Ref`` is the version's ARN, new
  content publishes a new version (CloudFormation replaces a layer version on any change),
  and it is deleted with the stack;
- an ``IMPORT`` change set is run as a create, which fails on the resource that exists;
  here a bucket or log group that exists is adopted as it is (CloudFormation's import),
  and only during an import;
- it has no ``UpdateTerminationProtection`` and deletes a protected stack; here the flag is
  set, and ``DeleteStack`` refuses a protected stack as CloudFormation does.

Nothing else of moto changes; what moto ignores (versioning, lifecycle, bucket policies,
termination protection's console) is tested on the template and with botocore's Stubber instead.
Run as ``python -m tests.moto_cfn -H HOST -p PORT`` (the arguments of ``moto_server``).
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LayerVersion, lambda_backends
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult
from moto.logs.models import LogGroup, logs_backends
from moto.s3.models import FakeBucket, s3_backends
from moto.server import main

_importing = False
_execute = CloudFormationBackend.execute_change_set
_create_bucket = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_create_log_group = LogGroup.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _execute_change_set(
    self: CloudFormationBackend, change_set_name: str, stack_name: Any = None
) -> None:
    global _importing
    change_set = self.describe_change_set(change_set_name)  # by name or id, as moto finds it
    _importing = change_set.change_set_type == "IMPORT"
    try:
        _execute(self, change_set_name, stack_name)
    finally:
        _importing = False
    stack = change_set.stack
    stack.parameters = change_set.parameters  # what the next change set is compared with
    stack._parse_template()  # moto keeps the new template's text, not its parsed form
    stack.output_map = stack._create_output_map()


def _adopt_bucket(cls: Any, name: str, cfn: Any, account_id: str, region: str, **kw: Any) -> Any:
    backend = s3_backends[account_id]["aws"]
    if _importing and name in backend.buckets:
        return backend.buckets[name]
    return _create_bucket(cls, name, cfn, account_id, region, **kw)


def _adopt_log_group(cls: Any, name: str, cfn: Any, account_id: str, region: str, **kw: Any) -> Any:
    groups = logs_backends[account_id][region].groups
    if _importing and name in groups:
        return groups[name]
    return _create_log_group(cls, name, cfn, account_id, region, **kw)


def _update_termination_protection(self: CloudFormationResponse) -> ActionResult:
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    stack.enable_termination_protection = self._get_bool_param("EnableTerminationProtection")
    return ActionResult({"StackId": stack.stack_id})


_delete_stack = CloudFormationBackend.delete_stack


def _delete_unprotected_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    for stack in list(self.stacks.values()):
        if name_or_stack_id in (stack.name, stack.stack_id) and stack.enable_termination_protection:
            raise ValidationError(
                message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection "
                "is enabled"
            )
    _delete_stack(self, name_or_stack_id)


def _publish_layer_version(cls: Any, name: str, cfn: Any, account_id: str, region: str, **kw: Any):
    props = cfn["Properties"]
    spec = {"LayerName": props.get("LayerName", name), "Content": props["Content"]}
    optional = ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")
    spec.update({key: props[key] for key in optional if key in props})
    return lambda_backends[account_id][region].publish_layer_version(spec)


def _replace_layer_version(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    if (
        original_resource is not None
        and original_resource.content == cloudformation_json["Properties"]["Content"]
    ):
        return original_resource  # moto made it from this very template a moment ago
    return _publish_layer_version(
        cls, new_resource_name, cloudformation_json, account_id, region_name
    )


def _delete_layer_version(self: LayerVersion, account_id: str, region_name: str) -> None:
    lambda_backends[account_id][region_name].delete_layer_version(self.name, str(self.version))


LayerVersion.delete = _delete_layer_version  # type: ignore[attr-defined]
LayerVersion.create_from_cloudformation_json = classmethod(_publish_layer_version)  # type: ignore[assignment]
LayerVersion.update_from_cloudformation_json = classmethod(_replace_layer_version)  # type: ignore[assignment]
CloudFormationResponse.update_termination_protection = _update_termination_protection  # type: ignore[attr-defined]
CloudFormationBackend.delete_stack = _delete_unprotected_stack  # type: ignore[method-assign]
CloudFormationBackend.execute_change_set = _execute_change_set  # type: ignore[method-assign]
FakeBucket.create_from_cloudformation_json = classmethod(_adopt_bucket)  # type: ignore[assignment]
LogGroup.create_from_cloudformation_json = classmethod(_adopt_log_group)  # type: ignore[assignment]
LayerVersion.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]

if __name__ == "__main__":
    main()

"""moto's server with what its CloudFormation lacks for ``python -m stack deploy``.

moto 5.2.5 runs change sets, but these gaps stop the deploy's own code paths:

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
  set, and ``DeleteStack`` refuses a protected stack as CloudFormation does;
- it skips ``AWS::CloudWatch::Alarm`` and ``AWS::SNS::Subscription`` with a warning (its
  CloudWatch has alarms and its SNS subscriptions, its CloudFormation neither), so ``GetAtt``
  of an alarm's ``Arn`` fails; here each is made through moto's own backend, from a request
  checked against the service's API model in botocore (``PutMetricAlarm``, ``Subscribe``),
  with CloudFormation's conversion of parameter strings to numbers, and deleted with the stack;
- it has no anomaly detection at all; here an ``AWS::CloudWatch::AnomalyDetector``'s
  ``PutAnomalyDetector`` request is checked the same way and the stack records the resource
  (nothing can read it back but ``ListStackResources``);
- a resource whose ``Condition`` turns false in an update is updated, not deleted (the
  alarms' e-mail subscription once ``--alarm-email ''`` removes the address); here it is
  deleted, as CloudFormation does.

Nothing else of moto changes; what moto ignores (versioning, lifecycle, bucket policies,
termination protection's console, an alarm's evaluation) is tested on the template and with
botocore's Stubber instead.
Run as ``python -m tests.moto_cfn -H HOST -p PORT`` (the arguments of ``moto_server``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from botocore.session import get_session
from botocore.validate import validate_parameters
from moto.awslambda.models import LayerVersion, lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudwatch.models import (
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.core.common_models import CloudFormationModel
from moto.core.responses import ActionResult
from moto.logs.models import LogGroup, logs_backends
from moto.s3.models import FakeBucket, s3_backends
from moto.server import main
from moto.sns.models import sns_backends

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


@cache
def _input_shape(service: str, operation: str) -> Any:
    return get_session().get_service_model(service).operation_model(operation).input_shape


#: What CloudFormation turns from a parameter's string into the API's number.
_NUMBERS = {"Threshold": float, "Period": int, "EvaluationPeriods": int, "DatapointsToAlarm": int}


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _NUMBERS[k](v) if k in _NUMBERS else _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return value


def _request(service: str, operation: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A resource's properties as ``operation`` takes them; an invalid one fails the stack."""
    request = _typed(properties)
    validate_parameters(request, _input_shape(service, operation))  # ParamValidationError
    return request


def _metric_stat(stat: dict[str, Any] | None) -> MetricStat | None:
    if stat is None:
        return None
    metric = stat["Metric"]
    dimensions = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
    return MetricStat(
        Metric(metric["MetricName"], metric["Namespace"], dimensions),
        stat["Period"],
        stat["Stat"],
        stat.get("Unit"),
    )


class _Filled:
    """What the fillers share: a type, an API operation the properties are checked against
    before ``make`` makes the resource, a physical id, and an update that deletes the resource
    and makes it again from the new properties."""

    resource_type = ""
    operation = ("", "")  #: (service, operation)

    def __init__(self, physical_id: str, arn: str = "") -> None:
        self.physical_id, self.arn = physical_id, arn

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.resource_type

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kw
    ) -> Any:
        name = cls.cloudformation_name_type()  # type: ignore[attr-defined]
        named = {name: resource_name} if name else {}
        request = _request(*cls.operation, {**cloudformation_json["Properties"], **named})
        return cls.make(request, resource_name, account_id, region_name)  # type: ignore[attr-defined]

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(  # type: ignore[attr-defined]
            new_resource_name, cloudformation_json, account_id, region_name
        )


# Each derives from CloudFormationModel itself: moto finds resource types among its direct
# subclasses. moto files every model under the second part of its module's name, which this
# module, run as ``__main__``, does not have: each names the module it is in.
_MODULE = "tests.moto_cfn"


class _StackAlarm(_Filled, CloudFormationModel):
    """``AWS::CloudWatch::Alarm``, put into moto's CloudWatch as ``PutMetricAlarm`` would."""

    __module__ = _MODULE
    resource_type = "AWS::CloudWatch::Alarm"
    operation = ("cloudwatch", "PutMetricAlarm")

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @classmethod
    def make(cls, r: dict[str, Any], name: str, account_id: str, region_name: str) -> _StackAlarm:
        queries = [
            MetricDataQuery(
                query_id=q["Id"],
                label=q.get("Label"),
                period=q.get("Period"),
                return_data=q.get("ReturnData"),
                expression=q.get("Expression"),
                metric_stat=_metric_stat(q.get("MetricStat")),
            )
            for q in r.get("Metrics", [])
        ]
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=r["AlarmName"],
            namespace=r.get("Namespace"),
            metric_name=r.get("MetricName"),
            metric_data_queries=queries or None,
            comparison_operator=r["ComparisonOperator"],
            evaluation_periods=r["EvaluationPeriods"],
            datapoints_to_alarm=r.get("DatapointsToAlarm"),
            period=r.get("Period"),
            threshold=r.get("Threshold"),
            statistic=r.get("Statistic"),
            extended_statistic=r.get("ExtendedStatistic"),
            description=r.get("AlarmDescription"),
            dimensions=r.get("Dimensions", []),
            alarm_actions=r.get("AlarmActions", []),
            ok_actions=r.get("OKActions", []),
            insufficient_data_actions=r.get("InsufficientDataActions", []),
            treat_missing_data=r.get("TreatMissingData"),
            threshold_metric_id=r.get("ThresholdMetricId"),
        )
        return cls(alarm.name, alarm.alarm_arn)

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.physical_id])

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn


class _StackAnomalyDetector(_Filled, CloudFormationModel):
    """``AWS::CloudWatch::AnomalyDetector``: checked as ``PutAnomalyDetector``, then recorded."""

    __module__ = _MODULE
    resource_type = "AWS::CloudWatch::AnomalyDetector"
    operation = ("cloudwatch", "PutAnomalyDetector")

    @classmethod
    def make(cls, r: dict[str, Any], name: str, account_id: str, region_name: str) -> Any:
        return cls(name)

    def delete(self, account_id: str, region_name: str) -> None:
        """Nothing to remove: moto never held it."""


class _StackSubscription(_Filled, CloudFormationModel):
    """``AWS::SNS::Subscription``, made by moto's SNS as ``Subscribe`` would."""

    __module__ = _MODULE
    resource_type = "AWS::SNS::Subscription"
    operation = ("sns", "Subscribe")

    @classmethod
    def make(cls, r: dict[str, Any], name: str, account_id: str, region_name: str) -> Any:
        made = sns_backends[account_id][region_name].subscribe(
            r["TopicArn"], r["Endpoint"], r["Protocol"]
        )
        return cls(made.arn)

    def delete(self, account_id: str, region_name: str) -> None:
        sns_backends[account_id][region_name].unsubscribe(self.physical_id)


_update_resource = parsing.parse_and_update_resource


def _update_or_delete(
    logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str
) -> Any:
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        existing = resources_map._parsed_resources.get(logical_id)
        if existing is not None:
            resources_map._delete_resource(existing, resource_json)
        return None
    return _update_resource(logical_id, resource_json, resources_map, account_id, region_name)


parsing.parse_and_update_resource = _update_or_delete
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

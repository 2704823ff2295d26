"""The stack's dashboard, alarms and alarm topic, property by property (issue 23, item 2).

moto's CloudWatch neither evaluates an alarm nor draws a dashboard, and the tests' moto only
records the anomaly detector, so what they would do on AWS is asserted here, on the template:
each alarm against AWS's recommended alarm it follows, every metric and dimension name
against ``chalicelib.metrics_format`` (a rename there fails here), and the dashboard's body
as CloudFormation would resolve it, parsed as the JSON CloudWatch takes. The deploy tests on
moto check that the stack makes, keeps and deletes them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chalicelib import metrics_format as mf

from stack.aws import cfn
from stack.aws.monitoring import ALARM_EMAIL_PATTERN

TEMPLATE = cfn.template()
RESOURCES = TEMPLATE["Resources"]
ALARMS = {k: r["Properties"] for k, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
NAMESPACE = {"Ref": "MetricsNamespace"}
STAGE = {"Name": "Stage", "Value": {"Ref": "StageName"}}
TOPIC = [{"Ref": "AlarmTopic"}]

#: Parameter values (and attributes) to resolve the template with, as a deploy of prod would.
REFS: dict[str, Any] = {
    "AWS::Region": "eu-west-1",
    "FunctionName": "spam-api-prod",
    "StageName": "prod",
    "MetricsNamespace": mf.DEFAULT_NAMESPACE,
    "ApiName": "spam-api",
    "ApiStage": "api",
    "DurationAlarmMilliseconds": "26100",
    **{
        f"{name}.Arn": f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:spam-api-prod-{name}"
        for name in ALARMS
    },
}


def resolve(node: Any, refs: dict[str, Any] = REFS) -> Any:
    """``node`` with the intrinsic functions the template uses worked out from ``refs``.

    A reference ``refs`` does not hold raises ``KeyError``: the template may use no other.
    """
    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function == "Ref":
            return refs[argument]
        if function == "Fn::GetAtt":
            return refs[".".join(argument)]
        if function == "Fn::Join":
            return argument[0].join(resolve(part, refs) for part in argument[1])
        if function == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(refs[m.group(1)]), argument)
    if isinstance(node, dict):
        return {key: resolve(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, refs) for value in node]
    return node


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    """The dashboard's body as CloudWatch would receive it (invalid JSON fails here)."""
    return json.loads(resolve(RESOURCES["Dashboard"]["Properties"]["DashboardBody"]))


def _widget(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [w for w in dashboard["widgets"] if w["properties"].get("title") == title]
    return found["properties"]


# --- AWS's recommended alarms -------------------------------------------------------------

#: Each alarm that follows one of AWS's recommended alarms ("Recommended alarms", Amazon
#: CloudWatch User Guide): namespace, metric, dimensions, statistic, period, datapoints to
#: alarm of evaluation periods, threshold, comparison.
RECOMMENDED = {
    "FunctionErrorsAlarm": (
        "AWS/Lambda", "Errors", ["FunctionName"], "Sum", 60, (3, 3), 0, "GreaterThanThreshold"
    ),
    "FunctionThrottlesAlarm": (
        "AWS/Lambda", "Throttles", ["FunctionName"], "Sum", 60, (5, 5), 1,
        "GreaterThanOrEqualToThreshold",
    ),
    "FunctionDurationAlarm": (
        "AWS/Lambda", "Duration", ["FunctionName"], "p90", 60, (15, 15),
        {"Ref": "DurationAlarmMilliseconds"}, "GreaterThanThreshold",
    ),
    "ApiServerErrorsAlarm": (
        "AWS/ApiGateway", "5XXError", ["ApiName", "Stage"], "Average", 60, (3, 3), 0.05,
        "GreaterThanThreshold",
    ),
    "ApiLatencyAlarm": (
        "AWS/ApiGateway", "Latency", ["ApiName", "Stage"], "p90", 60, (5, 5), 2500,
        "GreaterThanOrEqualToThreshold",
    ),
}  # fmt: skip


@pytest.mark.parametrize("logical", sorted(RECOMMENDED))
def test_recommended_alarm_follows_aws(logical: str) -> None:
    namespace, metric, dimensions, stat, period, (datapoints, periods), threshold, op = RECOMMENDED[
        logical
    ]
    alarm = ALARMS[logical]
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
    assert [d["Name"] for d in alarm["Dimensions"]] == dimensions
    assert alarm.get("ExtendedStatistic" if stat.startswith("p") else "Statistic") == stat
    assert (alarm["Period"], alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (
        period,
        datapoints,
        periods,
    )
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (threshold, op)


def test_lambda_alarms_watch_the_stages_function_and_api_alarms_the_shared_rest_api() -> None:
    for logical in ("FunctionErrorsAlarm", "FunctionThrottlesAlarm", "FunctionDurationAlarm"):
        assert ALARMS[logical]["Dimensions"] == [
            {"Name": "FunctionName", "Value": {"Ref": "FunctionName"}}
        ]
    for logical in ("ApiServerErrorsAlarm", "ApiLatencyAlarm"):
        assert ALARMS[logical]["Dimensions"] == [
            {"Name": "ApiName", "Value": {"Ref": "ApiName"}},
            {"Name": "Stage", "Value": {"Ref": "ApiStage"}},
        ]
        # the description says the REST API is the app's, shared by its stages
        assert "every stage of it" in resolve(ALARMS[logical]["AlarmDescription"])


def test_every_alarm_goes_to_the_topic_is_named_for_the_stage_and_ignores_missing_data() -> None:
    names = [resolve(alarm["AlarmName"]) for alarm in ALARMS.values()]
    assert len(ALARMS) == 7 and len(set(names)) == 7
    assert all(name.startswith("spam-api-prod-") for name in names)
    for logical, alarm in ALARMS.items():
        assert alarm["TreatMissingData"] == "notBreaching", logical
        assert alarm["AlarmActions"] == TOPIC and alarm["OKActions"] == TOPIC, logical
        assert 0 < alarm["DatapointsToAlarm"] <= alarm["EvaluationPeriods"], logical
        assert resolve(alarm["AlarmDescription"]), logical
        periods = [alarm.get("Period")] + [
            q["MetricStat"]["Period"] for q in alarm.get("Metrics", []) if "MetricStat" in q
        ]
        # CloudWatch refuses an alarm that looks back over more than a day
        assert max(p for p in periods if p) * alarm["EvaluationPeriods"] <= 86_400, logical


def test_no_model_alarm_sums_the_refusals_of_every_route_that_needs_a_model() -> None:
    alarm = ALARMS["NoModelAlarm"]
    *inputs, total = alarm["Metrics"]
    routes = []
    for query in inputs:
        metric = query["MetricStat"]["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == (NAMESPACE, mf.NO_MODEL)
        assert metric["Dimensions"][0] == STAGE
        assert query["MetricStat"]["Stat"] == "Sum" and query["MetricStat"]["Period"] == 60
        assert query["ReturnData"] is False
        routes.append(metric["Dimensions"][1]["Value"])
    assert routes == ["/predict", "/predict/batch", "/health", "/model"]
    assert total == {
        "Id": "refused",
        "ReturnData": True,
        "Expression": "SUM(METRICS())",
        "Label": "answers refused: no model",
    }
    # above zero in each of 5 minutes; with no request there is no datum, so it cannot fire,
    # but the GET routes' refusals count: a poller once a minute fires it without users
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (5, 5)
    description = resolve(alarm["AlarmDescription"])
    assert "cannot fire" in description and "at least once a minute" in description
    assert "GET /health and GET /model count too" in description


def test_routes_the_template_names_are_routes_of_the_app() -> None:
    from app import app

    named = set(re.findall(r'"Value": "(/[^"]*)"', json.dumps(TEMPLATE)))
    assert named and named <= set(app.routes)


def test_spam_rate_alarm_is_an_anomaly_band_on_the_stage_rate_the_detector_models() -> None:
    detector = RESOURCES["SpamRateAnomalyDetector"]["Properties"]
    queries = detector["MetricMathAnomalyDetector"]["MetricDataQueries"]
    alarm = ALARMS["SpamRateAlarm"]
    # the alarm's band is drawn by the stack's detector: the same queries, ids and labels
    assert alarm["Metrics"][:3] == queries
    spam, scored, rate = queries
    for query, metric in ((spam, mf.SPAM_VERDICTS), (scored, mf.MESSAGES_SCORED)):
        assert query["MetricStat"] == {
            "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": [STAGE]},
            "Period": 3600,
            "Stat": "Sum",
        }
        assert query["ReturnData"] is False
    assert rate == {
        "Id": "rate",
        "ReturnData": True,
        "Expression": "spam / scored",
        "Label": "spam rate",
    }
    band = alarm["Metrics"][3]
    # the band and the expression it is drawn around both return data (CloudWatch needs it)
    assert band["Expression"] == "ANOMALY_DETECTION_BAND(rate, 2)" and band["ReturnData"]
    assert alarm["ThresholdMetricId"] == "band" and "Threshold" not in alarm
    assert alarm["ComparisonOperator"] == "LessThanLowerOrGreaterThanUpperThreshold"
    assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (3, 3)
    assert RESOURCES["SpamRateAlarm"]["DependsOn"] == "SpamRateAnomalyDetector"


# --- the names the template shares with the API's metrics ---------------------------------


#: A dashboard SEARCH over the stage's metrics of one name and one dimension schema.
SEARCH = re.compile(
    r"SEARCH\('\{\"(?P<namespace>.+?)\",(?P<dimensions>.+?)\} Stage=\"prod\" "
    r"MetricName=\"(?P<metric>\w+)\"', '\w+', 300\)"
)


def _template_metrics(dashboard: dict[str, Any]) -> set[tuple[str, tuple[str, ...]]]:
    """Every (metric, sorted dimension names) of the API's namespace the template reads."""
    used: set[tuple[str, tuple[str, ...]]] = set()
    stats = [
        query["MetricStat"]["Metric"]
        for resource in RESOURCES.values()
        for query in (
            resource["Properties"].get("Metrics", [])
            + resource["Properties"]
            .get("MetricMathAnomalyDetector", {})
            .get("MetricDataQueries", [])
        )
        if "MetricStat" in query
    ]
    for metric in stats:
        assert metric["Namespace"] == NAMESPACE
        used.add((metric["MetricName"], tuple(sorted(d["Name"] for d in metric["Dimensions"]))))
    for widget in dashboard["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if row[0] == mf.DEFAULT_NAMESPACE:
                dims = tuple(sorted(row[2:-1:2]))
                used.add((row[1], dims))
            for item in row:
                expression = item.get("expression", "") if isinstance(item, dict) else ""
                if expression.startswith("SEARCH"):
                    found = SEARCH.fullmatch(expression)
                    assert found and found["namespace"] == mf.DEFAULT_NAMESPACE, expression
                    used.add((found["metric"], tuple(sorted(found["dimensions"].split(",")))))
    return used


def test_every_metric_and_dimension_the_template_reads_is_in_metrics_format(dashboard) -> None:
    used = _template_metrics(dashboard)
    sets = {
        **{m: {tuple(sorted(d)) for d in mf.REQUEST_DIMENSIONS} for m in mf.REQUEST_METRICS},
        **{m: {tuple(sorted(d)) for d in mf.MODEL_DIMENSIONS} for m in mf.MODEL_METRICS},
    }
    assert len(used) >= 15
    for metric, dimensions in used:
        assert metric in mf.METRIC_UNITS, metric
        # published under this dimension set, or the graph or alarm would never see a datum
        assert dimensions in sets[metric], (metric, dimensions)


# --- the topic ------------------------------------------------------------------------------


def test_alarm_topic_is_not_encrypted_with_the_aws_managed_key() -> None:
    """CloudWatch cannot publish to a topic under alias/aws/sns; the README says why the topic
    keeps SNS's default (no key, checkov's CKV_AWS_26) rather than a customer key."""
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert "KmsMasterKeyId" not in topic
    assert resolve(topic["TopicName"]) == "spam-api-prod-alarms"
    assert TEMPLATE["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}


def test_e_mail_subscription_exists_only_with_an_address() -> None:
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert TEMPLATE["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    parameter = TEMPLATE["Parameters"]["AlarmEmail"]
    assert parameter["Default"] == ""
    # CloudFormation matches AllowedPattern against the whole value, as fullmatch does
    assert parameter["AllowedPattern"] == f"|{ALARM_EMAIL_PATTERN}"
    for good in ("", "ops@example.org", "a.b+alarms@mail.example.co.uk"):
        assert re.fullmatch(parameter["AllowedPattern"], good), good
    for bad in ("ops", "ops@example", "two words@example.org", "a@b@c.org"):
        assert not re.fullmatch(parameter["AllowedPattern"], bad), bad


# --- the dashboard --------------------------------------------------------------------------


def test_dashboard_is_the_stages_and_links_from_the_outputs() -> None:
    assert RESOURCES["Dashboard"]["Properties"]["DashboardName"] == {"Ref": "FunctionName"}
    url = resolve(TEMPLATE["Outputs"]["DashboardUrl"]["Value"], {**REFS, "Dashboard": "d"})
    assert url == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#dashboards/dashboard/d"
    )


def test_dashboard_widgets_fit_the_grid_without_overlapping(dashboard) -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not area & cells, widget["properties"].get("title")
        cells |= area
    for widget in dashboard["widgets"]:
        if widget["type"] in {"metric", "log"}:
            assert widget["properties"]["region"] == "eu-west-1"


def test_dashboard_shows_every_alarm(dashboard) -> None:
    (status,) = [w["properties"] for w in dashboard["widgets"] if w["type"] == "alarm"]
    assert status["alarms"] == [REFS[f"{name}.Arn"] for name in ALARMS]


def _rows(properties: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """A graph's metric rows as (namespace, metric, dimensions, options)."""
    found = []
    for row in properties["metrics"]:
        if isinstance(row[0], str):
            dims = dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
            found.append((row[0], row[1], dims, row[-1]))
    return found


def test_dashboard_api_gateway_graphs(dashboard) -> None:
    api = {"ApiName": "spam-api", "Stage": "api"}
    counts = _rows(_widget(dashboard, "API requests and errors (all stages of spam-api)"))
    assert [(m, d, o["stat"]) for _, m, d, o in counts] == [
        ("Count", api, "Sum"),
        ("4XXError", api, "Sum"),
        ("5XXError", api, "Sum"),
    ]
    shares = _widget(dashboard, "API error share")
    assert [(m, o["stat"]) for _, m, _, o in _rows(shares)] == [
        ("4XXError", "Average"),
        ("5XXError", "Average"),
    ]
    assert (
        shares["annotations"]["horizontal"][0]["value"]
        == ALARMS["ApiServerErrorsAlarm"]["Threshold"]
    )
    latency = _widget(dashboard, "API latency (ms)")
    assert [(m, d, o["stat"]) for _, m, d, o in _rows(latency)] == [
        ("Latency", api, "p50"),
        ("Latency", api, "p90"),
        ("Latency", api, "p99"),
    ]
    assert latency["annotations"]["horizontal"][0]["value"] == 2500


def test_dashboard_lambda_graphs(dashboard) -> None:
    function = {"FunctionName": "spam-api-prod"}
    duration = _widget(dashboard, "Function duration (ms)")
    assert [(m, d, o["stat"]) for _, m, d, o in _rows(duration)] == [
        ("Duration", function, "p50"),
        ("Duration", function, "p90"),
        ("Duration", function, "Maximum"),
    ]
    assert duration["annotations"]["horizontal"][0]["value"] == 26100  # the alarm's threshold
    failures = _rows(_widget(dashboard, "Function invocations, errors, throttles"))
    assert [(m, d, o["stat"]) for _, m, d, o in failures] == [
        ("Invocations", function, "Sum"),
        ("Errors", function, "Sum"),
        ("Throttles", function, "Sum"),
    ]
    (concurrency,) = _rows(_widget(dashboard, "Function concurrency"))
    assert concurrency[1:3] == ("ConcurrentExecutions", function)
    assert concurrency[3]["stat"] == "Maximum"
    loads = _rows(_widget(dashboard, "Cold starts and model loads"))
    assert [m for _, m, _, _ in loads] == [mf.COLD_STARTS, mf.MODEL_LOADS, mf.MODEL_LOAD_FAILURES]


def test_dashboard_spam_rate_and_uncertain_share_of_the_stage(dashboard) -> None:
    rate = _widget(dashboard, "Spam rate (hourly) and its expected band")
    assert rate["period"] == 3600  # the detector's
    hidden = [(m, d, o) for _, m, d, o in _rows(rate)]
    assert [(m, d, o["id"], o["visible"]) for m, d, o in hidden] == [
        (mf.SPAM_VERDICTS, {"Stage": "prod"}, "spam", False),
        (mf.MESSAGES_SCORED, {"Stage": "prod"}, "scored", False),
    ]
    expressions = [row[0]["expression"] for row in rate["metrics"] if isinstance(row[0], dict)]
    assert expressions == ["spam / scored", "ANOMALY_DETECTION_BAND(rate, 2)"]
    uncertain = _widget(dashboard, "Uncertain share")
    assert [m for _, m, _, _ in _rows(uncertain)] == [mf.UNCERTAIN_MESSAGES, mf.MESSAGES_SCORED]
    assert uncertain["metrics"][-1][0]["expression"] == "uncertain / scored"


@pytest.mark.parametrize(
    ("title", "metric", "stat", "dimension"),
    [
        ("Messages scored per model version", mf.MESSAGES_SCORED, "Sum", "ModelVersion"),
        ("Spam rate per model version", mf.SPAM_VERDICTS, "Average", "ModelVersion"),
        ("Uncertain share per model version", mf.UNCERTAIN_MESSAGES, "Average", "ModelVersion"),
        ("Mean spam probability per model version", mf.SPAM_PROBABILITY, "Average", "ModelVersion"),
        ("Requests per route", mf.REQUESTS, "Sum", "Route"),
        ("Handler latency p99 per route (ms)", mf.LATENCY, "p99", "Route"),
        ("Answers refused for want of a model", mf.NO_MODEL, "Sum", "Route"),
    ],
)
def test_dashboard_per_version_and_per_route_graphs_search(
    dashboard, title: str, metric: str, stat: str, dimension: str
) -> None:
    """Versions change without a redeploy: a SEARCH finds every one the stage has used."""
    ((query,),) = _widget(dashboard, title)["metrics"]
    assert query["expression"] == (
        f'SEARCH(\'{{"SpamClassifier",Stage,{dimension}}} Stage="prod" '
        f"MetricName=\"{metric}\"', '{stat}', 300)"
    )


def test_dashboard_per_version_rates_are_averages_of_per_message_values(dashboard) -> None:
    """Metric math cannot divide one SEARCH's series by another's; the API writes a spam
    verdict and an uncertain message as one 0/1 value per message (``test_metrics``), so
    each per-version rate is one SEARCH's Average, on a 0 to 1 axis. No Logs Insights
    query is left on the dashboard (each would be billed per GB it scans)."""
    for title in ("Spam rate per model version", "Uncertain share per model version"):
        widget = _widget(dashboard, title)
        assert "', 'Average', 300)" in widget["metrics"][0][0]["expression"]
        assert widget["yAxis"]["left"] == {"min": 0, "max": 1}
    assert {w["type"] for w in dashboard["widgets"]} == {"text", "alarm", "metric"}


def test_dashboard_feedback_and_answers_by_status_class(dashboard) -> None:
    feedback = _rows(_widget(dashboard, "Feedback reports"))
    assert [(m, d, o["stat"]) for _, m, d, o in feedback] == [
        (mf.FEEDBACK_SPAM, {"Stage": "prod"}, "Sum"),
        (mf.FEEDBACK_HAM, {"Stage": "prod"}, "Sum"),
    ]
    statuses = [row[0] for row in _widget(dashboard, "4xx and 5xx answers per route")["metrics"]]
    assert [s["label"] for s in statuses] == ["4xx", "5xx"]
    assert f'MetricName="{mf.STATUS_4XX}"' in statuses[0]["expression"]
    assert f'MetricName="{mf.STATUS_5XX}"' in statuses[1]["expression"]


def test_template_fits_an_inline_template_body() -> None:
    """Deploy sends the template as TemplateBody, which CloudFormation takes up to 51,200 bytes."""
    assert len(cfn.TEMPLATE.read_bytes()) < 51_200

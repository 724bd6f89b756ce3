"""The monitoring stack's template: the alarm table of issue 5, routing, encryption, schedules.

The prod stage of cdk.json, synthesized once per session (``prod_app``); cdk-nag and cfn-lint
on every stack are in test_compliance.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template

from infra.stacks.monitoring_stack import DEFAULT_RUNBOOK_URL
from propensity.alerting.retry import RetryPolicy
from propensity.bundle.manifest import GOLDEN_FILE
from propensity.constants import API_VERSIONS
from propensity.policy.alarms import AlarmThresholds

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = DEFAULT_RUNBOOK_URL
PREFIX = "propensity-prod"
# cdk.json's prod stage: reserved concurrency 100, memory 1024 MB (the default).
RESERVED, MEMORY = 100, 1024

# The table, with the default thresholds: (alarm, tier, threshold, comparison, missing
# data, OK action, evaluation periods, datapoints to alarm).
GT, GTE, LT = "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold"
EXPECTED = [
    ("api-5xx-critical", "critical", 5, GT, "notBreaching", True, 5, 5),
    ("latency-p99-critical", "critical", 2000, GT, "notBreaching", True, 2, None),
    ("probe-failing-critical", "critical", 1, LT, "breaching", True, 3, 3),
    ("no-traffic-critical", "critical", 1, LT, "breaching", True, 1, None),
    ("init-failure-critical-v1", "critical", 1, GTE, "notBreaching", True, 1, None),
    ("init-failure-critical-v2", "critical", 1, GTE, "notBreaching", True, 1, None),
    ("alert-dlq-critical", "critical", 1, GTE, "notBreaching", True, 1, None),
    ("api-5xx-warning", "warning", 1, GT, "notBreaching", True, 15, 15),
    ("latency-p95-warning", "warning", 500, GT, "notBreaching", True, 3, None),
    ("throttles-warning-v1", "warning", 1, GTE, "notBreaching", True, 1, None),
    ("throttles-warning-v2", "warning", 1, GTE, "notBreaching", True, 1, None),
    ("concurrency-warning-v1", "warning", 0.8 * RESERVED, GT, "notBreaching", True, 10, 10),
    ("concurrency-warning-v2", "warning", 0.8 * RESERVED, GT, "notBreaching", True, 10, 10),
    ("memory-warning-v1", "warning", 0.9 * MEMORY, GT, "notBreaching", True, 1, None),
    ("memory-warning-v2", "warning", 0.9 * MEMORY, GT, "notBreaching", True, 1, None),
    ("validation-rate-warning", "warning", 5, GT, "notBreaching", True, 1, None),
    ("latency-p95-info", "info", 250, GT, "notBreaching", False, 6, None),
    (
        "traffic-anomaly-info",
        "info",
        None,
        "LessThanLowerOrGreaterThanUpperThreshold",
        "notBreaching",
        False,
        6,
        None,
    ),
    ("unknown-categories-info", "info", 10, GTE, "notBreaching", False, 1, None),
]


@pytest.fixture(scope="module")
def monitoring(prod_app):
    """The prod stage's MonitoringStack (the session's synthesized app, tests/infra/conftest.py)."""
    return prod_app.stacks["monitoring"]


@pytest.fixture(scope="module")
def template(prod_app) -> Template:
    return prod_app.template("monitoring")


def resources(template, kind):
    return template.find_resources(kind)


def logical_id(template, kind, **properties):
    matches = [
        k
        for k, v in resources(template, kind).items()
        if all(v["Properties"].get(p) == value for p, value in properties.items())
    ]
    assert len(matches) == 1, f"{kind} {properties}: {matches}"
    return matches[0]


def watched(alarm):
    """(namespace, metric, dimensions, statistic, period) of a single-metric alarm, in either
    form CDK writes it (top-level properties, or one MetricStat when the metric has a label)."""
    if "MetricName" in alarm:
        statistic = alarm.get("Statistic") or alarm.get("ExtendedStatistic")
        return (
            alarm["Namespace"],
            alarm["MetricName"],
            alarm.get("Dimensions", []),
            statistic,
            alarm["Period"],
        )
    [returned] = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    stat = returned["MetricStat"]
    metric = stat["Metric"]
    return (
        metric["Namespace"],
        metric["MetricName"],
        metric.get("Dimensions", []),
        stat["Stat"],
        stat["Period"],
    )


def alarms_by_name(template):
    return {
        v["Properties"]["AlarmName"]: v["Properties"]
        for v in resources(template, "AWS::CloudWatch::Alarm").values()
    }


@pytest.mark.realdata
def test_every_alarm_of_the_table_exists_with_threshold_tier_ok_action_and_missing_data(template):
    # Given the synthesized monitoring stack
    alarms = alarms_by_name(template)
    topics = {
        tier: logical_id(template, "AWS::SNS::Topic", TopicName=f"{PREFIX}-{tier}")
        for tier in ("critical", "warning", "info")
    }

    # Then exactly the catalogue's alarms exist ...
    assert sorted(alarms) == sorted(f"{PREFIX}-{row[0]}" for row in EXPECTED)
    for key, tier, threshold, comparison, missing, ok_action, periods, datapoints in EXPECTED:
        alarm = alarms[f"{PREFIX}-{key}"]
        # ... each with its threshold, comparison, window and missing-data treatment,
        assert alarm.get("Threshold") == (pytest.approx(threshold) if threshold is not None else None), key
        assert alarm["ComparisonOperator"] == comparison, key
        assert alarm["TreatMissingData"] == missing, key
        assert alarm["EvaluationPeriods"] == periods, key
        assert alarm.get("DatapointsToAlarm") == datapoints, key
        # ... its tier's topic as alarm action, and OK action where incidents must resolve,
        assert {"Ref": topics[tier]} in alarm["AlarmActions"], key
        assert ({"Ref": topics[tier]} in alarm.get("OKActions", [])) is ok_action, key
        # ... and a description naming its tier and its runbook entry.
        anchor = re.sub(r"-v[12]$", "", key)
        assert alarm["AlarmDescription"].endswith(f"[tier: {tier}] Runbook: {RUNBOOK}#{anchor}"), key


@pytest.mark.realdata
def test_alarms_watch_the_right_metrics(template):
    alarms = alarms_by_name(template)

    def stat(alarm, metric_id):
        return next(m["MetricStat"] for m in alarm["Metrics"] if m["Id"] == metric_id)

    api = [{"Name": "ApiName", "Value": f"{PREFIX}-api"}, {"Name": "Stage", "Value": "prod"}]
    five_xx = alarms[f"{PREFIX}-api-5xx-critical"]
    assert stat(five_xx, "errors")["Metric"] == {
        "Dimensions": api,
        "MetricName": "5XXError",
        "Namespace": "AWS/ApiGateway",
    }
    assert stat(five_xx, "errors")["Stat"] == "Average" and stat(five_xx, "errors")["Period"] == 60
    p99 = alarms[f"{PREFIX}-latency-p99-critical"]
    assert watched(p99) == ("AWS/ApiGateway", "Latency", api, "p99", 300)
    probe = alarms[f"{PREFIX}-probe-failing-critical"]
    assert watched(probe) == (
        "Propensity",
        "ProbeSuccess",
        [{"Name": "service", "Value": f"{PREFIX}-probe"}],
        "Minimum",
        AlarmThresholds().probe_interval_seconds,  # one run per period: 3 periods = 3 runs in a row
    )
    traffic = alarms[f"{PREFIX}-no-traffic-critical"]
    expression = next(m["Expression"] for m in traffic["Metrics"] if m.get("ReturnData"))
    assert expression == (
        "IF(DAY(probe) <= 5 AND HOUR(probe) >= 7 AND HOUR(probe) < 19, FILL(requests, 0) - FILL(probe, 0), 1)"
    )
    assert stat(traffic, "probe")["Metric"]["MetricName"] == "ProbeRequests"
    assert stat(traffic, "requests")["Period"] == 600
    concurrency = alarms[f"{PREFIX}-concurrency-warning-v2"]
    assert watched(concurrency) == (
        "AWS/Lambda",
        "ConcurrentExecutions",
        [{"Name": "FunctionName", "Value": f"{PREFIX}-predict-v2"}],
        "Maximum",
        60,
    )
    unknown = alarms[f"{PREFIX}-unknown-categories-info"]
    assert watched(unknown) == (
        "Propensity",
        "UnknownCategories",
        [{"Name": "ApiVersion", "Value": "v2"}],
        "Sum",
        3600,
    )
    dlq = alarms[f"{PREFIX}-alert-dlq-critical"]
    assert watched(dlq)[1:4:2] == ("ApproximateNumberOfMessagesVisible", "Maximum")
    anomaly = alarms[f"{PREFIX}-traffic-anomaly-info"]
    band = next(m for m in anomaly["Metrics"] if m["Id"] == anomaly["ThresholdMetricId"])
    assert band["Expression"].startswith("ANOMALY_DETECTION_BAND(") and band["Expression"].endswith(", 3)")


@pytest.mark.realdata
def test_log_metric_filters_feed_the_init_memory_and_422_alarms(template):
    alarms = alarms_by_name(template)
    filters = {
        f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
        for f in resources(template, "AWS::Logs::MetricFilter").values()
    }
    for api in API_VERSIONS:
        init = filters[f"InitFailures-{PREFIX}-predict-{api}"]
        assert init["LogGroupName"] == f"/aws/lambda/{PREFIX}-predict-{api}"
        assert (
            '"model load failed"' in init["FilterPattern"]
            and '"Runtime.ImportModuleError"' in init["FilterPattern"]
        )
        assert watched(alarms[f"{PREFIX}-init-failure-critical-{api}"])[:2] == (
            "Propensity",
            f"InitFailures-{PREFIX}-predict-{api}",
        )
        memory = filters[f"MaxMemoryUsedMB-{PREFIX}-predict-{api}"]
        assert memory["FilterPattern"].startswith('[type = "REPORT", request_id_label,') and memory[
            "FilterPattern"
        ].endswith("max_memory_used, max_memory_unit, ...]")
        assert memory["MetricTransformations"][0]["MetricValue"] == "$max_memory_used"
        assert watched(alarms[f"{PREFIX}-memory-warning-{api}"])[1:4:2] == (
            f"MaxMemoryUsedMB-{PREFIX}-predict-{api}",
            "Maximum",
        )
    http422 = filters[f"Http422-{PREFIX}-api"]
    assert '$.status = "422"' in http422["FilterPattern"]
    validation = alarms[f"{PREFIX}-validation-rate-warning"]
    invalid = next(m for m in validation["Metrics"] if m["Id"] == "invalid")
    assert invalid["MetricStat"]["Metric"]["MetricName"] == f"Http422-{PREFIX}-api"


@pytest.mark.realdata
def test_topics_and_dead_letter_queue_are_encrypted_with_a_key_cloudwatch_may_use(template):
    key = next(iter(resources(template, "AWS::KMS::Key")))
    key_properties = resources(template, "AWS::KMS::Key")[key]["Properties"]
    assert key_properties["EnableKeyRotation"] is True
    statement = next(
        s for s in key_properties["KeyPolicy"]["Statement"] if s.get("Sid") == "CloudWatchAlarmsPublish"
    )
    assert statement["Principal"]["Service"] == "cloudwatch.amazonaws.com" and "Condition" not in statement
    assert "kms:GenerateDataKey*" in statement["Action"]
    topics = resources(template, "AWS::SNS::Topic")
    assert sorted(t["Properties"]["TopicName"] for t in topics.values()) == [
        f"{PREFIX}-critical",
        f"{PREFIX}-digest",
        f"{PREFIX}-info",
        f"{PREFIX}-warning",
    ]
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    # TLS only on every topic
    for policy in resources(template, "AWS::SNS::TopicPolicy").values():
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": f"{PREFIX}-alert-dlq",
            "KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]},
            "MessageRetentionPeriod": 14 * 24 * 3600,
        },
    )


@pytest.mark.realdata
def test_routing_critical_to_pagerduty_and_slack_warning_to_slack_failures_to_the_dlq(template):
    functions = {
        v["Properties"]["FunctionName"]: k for k, v in resources(template, "AWS::Lambda::Function").items()
    }
    topics = {
        v["Properties"]["TopicName"].rsplit("-", 1)[1]: k
        for k, v in resources(template, "AWS::SNS::Topic").items()
    }
    dlq = logical_id(template, "AWS::SQS::Queue", QueueName=f"{PREFIX}-alert-dlq")
    routes = set()
    for subscription in resources(template, "AWS::SNS::Subscription").values():
        properties = subscription["Properties"]
        tier = next(t for t, k in topics.items() if properties["TopicArn"] == {"Ref": k})
        if properties["Protocol"] == "lambda":
            function = next(
                n for n, k in functions.items() if properties["Endpoint"] == {"Fn::GetAtt": [k, "Arn"]}
            )
            routes.add((tier, function))
            # SNS's own delivery failures land in the DLQ too
            assert properties["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]}}
        else:
            routes.add((tier, f"{properties['Protocol']}:{properties['Endpoint']}"))
    assert routes == {
        ("critical", f"{PREFIX}-notify-pagerduty"),
        ("critical", f"{PREFIX}-notify-slack"),
        ("warning", f"{PREFIX}-notify-slack"),
        ("digest", "email:ml-oncall@example.com"),
    }
    # Lambda retries a failed delivery twice, then hands it to the DLQ
    for name in ("notify-pagerduty", "notify-slack", "digest"):
        template.has_resource_properties(
            "AWS::Lambda::EventInvokeConfig",
            {
                "FunctionName": {"Ref": functions[f"{PREFIX}-{name}"]},
                "MaximumRetryAttempts": 2,
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq, "Arn"]}}},
            },
        )
    # and each notifier may run every attempt of its retry policy before Lambda stops it
    for name in ("notify-pagerduty", "notify-slack"):
        function = resources(template, "AWS::Lambda::Function")[functions[f"{PREFIX}-{name}"]]["Properties"]
        assert function["Timeout"] > RetryPolicy().worst_case_seconds()
    pagerduty = resources(template, "AWS::Lambda::Function")[functions[f"{PREFIX}-notify-pagerduty"]]
    environment = pagerduty["Properties"]["Environment"]["Variables"]
    assert environment["PAGERDUTY_ROUTING_KEY_SECRET"] == "propensity/pagerduty-routing-key"
    assert environment["RUNBOOK_URL"] == RUNBOOK
    assert "#dashboards:name=propensity-prod-operations" in json.dumps(environment["DASHBOARD_URL"])
    # the DLQ alarm also reaches the e-mail topic, which does not go through the notifiers
    dlq_alarm = alarms_by_name(template)[f"{PREFIX}-alert-dlq-critical"]
    assert {"Ref": topics["digest"]} in dlq_alarm["AlarmActions"]


@pytest.mark.realdata
def test_schedules_probe_every_minute_and_digest_daily(template):
    functions = {
        v["Properties"]["FunctionName"]: k for k, v in resources(template, "AWS::Lambda::Function").items()
    }
    rules = {
        v["Properties"]["Name"]: v["Properties"] for v in resources(template, "AWS::Events::Rule").values()
    }
    probe, digest = rules[f"{PREFIX}-probe"], rules[f"{PREFIX}-digest"]
    assert probe["ScheduleExpression"] == "rate(1 minute)" and probe["State"] == "ENABLED"
    assert probe["Targets"][0]["Arn"] == {"Fn::GetAtt": [functions[f"{PREFIX}-probe"], "Arn"]}
    assert probe["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert digest["ScheduleExpression"] == f"cron(0 {AlarmThresholds().digest_hour_utc} * * ? *)"
    assert digest["Targets"][0]["Arn"] == {"Fn::GetAtt": [functions[f"{PREFIX}-digest"], "Arn"]}
    assert digest["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith(
        "AlertingDeadLetterQueue"
    )
    probe_function = resources(template, "AWS::Lambda::Function")[functions[f"{PREFIX}-probe"]]["Properties"]
    assert probe_function["ReservedConcurrentExecutions"] == 1


@pytest.mark.realdata
def test_probe_has_its_own_key_from_secrets_manager_and_ships_the_golden_sets(template, monitoring, trained):
    secret = logical_id(template, "AWS::SecretsManager::Secret", Name="propensity/probe-api-key")
    template.has_resource_properties(
        "AWS::ApiGateway::ApiKey",
        {
            "Name": f"{PREFIX}-probe",
            "Value": {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": secret}, ":SecretString:::}}"]]},
        },
    )
    template.has_resource_properties("AWS::ApiGateway::UsagePlan", {"UsagePlanName": f"{PREFIX}-probe"})
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": f"{PREFIX}-probe",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "PROBE_API_KEY_SECRET": "propensity/probe-api-key",
                        "PROBE_APIS": "v1,v2",
                        "PROBE_LATENCY_BUDGET_MS": "1000.0",
                        "PROBE_PROBABILITY_TOLERANCE": "0.0001",
                        "POWERTOOLS_SERVICE_NAME": f"{PREFIX}-probe",
                    }
                )
            },
        },
    )
    code = monitoring.probe.code_dir
    assert (code / "probe_handler.py").is_file()
    for api, result in trained.items():
        assert (code / f"golden-{api}.json").read_bytes() == (result.bundle_path / GOLDEN_FILE).read_bytes()


@pytest.mark.realdata
def test_dashboard_covers_traffic_latency_errors_probe_and_predictions(template):
    [dashboard] = resources(template, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"{PREFIX}-operations"
    # The body is JSON joined with tokens (alarm ARNs, the region): keep its literal parts.
    body = "".join(
        p if isinstance(p, str) else "<token>"
        for p in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    )
    widgets = json.loads(body.replace('"<token>"', '"x"').replace("<token>", "x"))["widgets"]
    assert {w["type"] for w in widgets} == {"text", "alarm", "metric"}
    [alarm_widget] = [w for w in widgets if w["type"] == "alarm"]
    assert len(alarm_widget["properties"]["alarms"]) == len(EXPECTED)
    for expected in (
        "Requests per minute",
        "5XXError",
        "4XXError",
        "p99",
        "ValidationLatency",
        "InferenceLatency",
        "Throttles",
        "ConcurrentExecutions",
        "ProbeSuccess",
        "ProbeLatency",
        "PredictionYes",
        "ProbabilitySum",
        "ValidationError_age",
        "UnknownCategory_job",
    ):
        assert expected in body, expected


@pytest.mark.realdata
def test_every_alarm_of_every_stack_has_a_runbook_entry(prod_app, monitoring):
    # Given RUNBOOK.md and every alarm description of the app that names a runbook entry
    headings = set(re.findall(r"^### ([a-z0-9-]+)$", (ROOT / "RUNBOOK.md").read_text(), flags=re.MULTILINE))
    anchors = {spec.anchor for spec in monitoring.alarms.specs}
    for stack in prod_app.stacks:
        for alarm in prod_app.template(stack).find_resources("AWS::CloudWatch::Alarm").values():
            described = re.search(
                r"RUNBOOK\.md#([a-z0-9-]+)$", alarm["Properties"].get("AlarmDescription", "")
            )
            if described:
                anchors.add(described.group(1))

    # Then each has its entry (a heading GitHub turns into that anchor)
    assert len(anchors) > len(EXPECTED) - 5
    assert anchors <= headings, f"no RUNBOOK.md entry for {sorted(anchors - headings)}"

"""The daily digest against CloudWatch data in moto, delivered to a Slack stand-in and by e-mail (SNS).

moto 5.2.5 implements neither ``DescribeAlarmHistory`` nor percentile statistics; the
``cloudwatch_history`` fixture adds both on top of moto's own state (the alarm state history
moto records on ``set_alarm_state``, the raw datapoints of ``put_metric_data``) so the digest's
real CloudWatch source runs unmodified.
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import Statistics
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from propensity.alerting.description import describe_alarm
from propensity.alerting.retry import DeliveryError
from propensity.alerting.signals import Deployment
from tests.events import LambdaContext, scheduled_event
from tests.integration.stand_in import Reply, load_handler, serve

REGION = "eu-west-1"
RUNBOOK = "https://git.example.com/propensity/blob/main/RUNBOOK.md"
DASHBOARD = (
    "https://eu-west-1.console.aws.amazon.com/cloudwatch/home#dashboards:name=propensity-test-operations"
)
API = {"ApiName": "propensity-test-api", "Stage": "test"}
FUNCTIONS = {"v1": "propensity-test-predict-v1", "v2": "propensity-test-predict-v2"}


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _describe_alarm_history(self):
    start, end = _aware(self._get_param("StartDate")), _aware(self._get_param("EndDate"))
    items = []
    for alarm in self.cloudwatch_backend.alarms.values():
        # moto keeps each previous (state, since) in alarm.history; the current one on the alarm.
        states = [(entry[3], entry[4]) for entry in alarm.history if entry[0] == "StateUpdate"]
        states.append((alarm.state_value, alarm.state_updated_timestamp))
        for (old, _), (new, at) in itertools.pairwise(states):
            if start <= _aware(at) <= end:
                items.append(
                    {
                        "AlarmName": alarm.name,
                        "AlarmType": "MetricAlarm",
                        "Timestamp": _aware(at),
                        "HistoryItemType": "StateUpdate",
                        "HistorySummary": f"Alarm updated from {old} to {new}",
                        "HistoryData": json.dumps(
                            {
                                "version": "1.0",
                                "oldState": {"stateValue": old},
                                "newState": {"stateValue": new, "stateReason": "test"},
                            }
                        ),
                    }
                )
    return ActionResult({"AlarmHistoryItems": sorted(items, key=lambda i: i["Timestamp"])})


def _with_percentiles(original):
    def get_statistics_for_type(self, stat):
        if stat.startswith("p"):
            values = sorted(self.metric_single_values_list)
            if not values:
                return None
            rank = math.ceil(float(stat[1:]) / 100 * len(values))  # nearest rank
            return values[max(rank, 1) - 1]
        return original(self, stat)

    return get_statistics_for_type


@pytest.fixture
def cloudwatch_history(monkeypatch):
    monkeypatch.setattr(CloudWatchResponse, "describe_alarm_history", _describe_alarm_history, raising=False)
    monkeypatch.setattr(
        Statistics, "get_statistics_for_type", _with_percentiles(Statistics.get_statistics_for_type)
    )


@pytest.fixture
def aws(monkeypatch, cloudwatch_history):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "DASHBOARD_URL": DASHBOARD,
        "RUNBOOK_URL": RUNBOOK,
        "ALERT_RETRY_BASE_DELAY_S": "0.01",
        "ALERT_HTTP_TIMEOUT_S": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield {
            service: boto3.client(service, region_name=REGION)
            for service in ("cloudwatch", "sns", "sqs", "secretsmanager")
        }


@pytest.fixture
def world(aws, monkeypatch):
    """Tier topics, a digest topic with a queue standing in for the mailbox, the Slack stand-in."""
    sns, sqs = aws["sns"], aws["sqs"]
    topics = {
        tier: sns.create_topic(Name=f"propensity-test-{tier}")["TopicArn"]
        for tier in ("critical", "warning", "info")
    }
    other = sns.create_topic(Name="other-team-alerts")["TopicArn"]
    digest_topic = sns.create_topic(Name="propensity-test-digest")["TopicArn"]
    mailbox = sqs.create_queue(QueueName="mailbox")["QueueUrl"]
    mailbox_arn = sqs.get_queue_attributes(QueueUrl=mailbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=digest_topic, Protocol="sqs", Endpoint=mailbox_arn)
    deployment = Deployment(
        stage="test",
        api_name=API["ApiName"],
        api_stage=API["Stage"],
        functions=FUNCTIONS,
        model_versions={"v1": "v1-aaaa", "v2": "v2-bbbb"},
        probe_service="propensity-test-probe",
        tier_topics=topics,
    )
    monkeypatch.setenv("DIGEST_DEPLOYMENT", deployment.model_dump_json())
    monkeypatch.setenv("DIGEST_TOPIC_ARN", digest_topic)
    with serve(Reply(200, b"ok")) as slack:
        aws["secretsmanager"].create_secret(
            Name="propensity/slack-webhook-url", SecretString=f"{slack.url}/services/T0/B0/DIGEST"
        )
        monkeypatch.setenv("SLACK_WEBHOOK_SECRET", "propensity/slack-webhook-url")
        yield {"topics": topics, "other": other, "slack": slack, "mailbox": mailbox, **aws}


def put(cloudwatch, namespace, name, dimensions, values, at):
    for value in values:
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    "Value": value,
                    "Timestamp": at,
                }
            ],
        )


def alarm(cloudwatch, name, topic, tier, anchor, states):
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        AlarmDescription=describe_alarm(
            summary=f"{name} summary", tier=tier, runbook_url=RUNBOOK, anchor=anchor
        ),
        AlarmActions=[topic],
        OKActions=[topic],
        MetricName="Count",
        Namespace="AWS/ApiGateway",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    for state in states:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test {state}")


def slack_text(message):
    parts = []
    for block in message["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", [])]
    return "\n".join(parts)


def test_digest_summarises_the_last_24_hours_to_slack_and_email(world):
    # Given a day of traffic, latency, errors, probe runs and drift figures
    cw = world["cloudwatch"]
    now = datetime.now(UTC)
    recent, stale = now - timedelta(minutes=30), now - timedelta(hours=30)
    put(cw, "AWS/ApiGateway", "Count", API, [400, 600], recent)
    put(cw, "AWS/ApiGateway", "Count", API, [99999], stale)  # outside the window: not counted
    put(cw, "AWS/ApiGateway", "5XXError", API, [12], recent)
    put(cw, "AWS/ApiGateway", "4XXError", API, [30], recent)
    put(cw, "AWS/ApiGateway", "Latency", API, list(range(1, 101)), recent)  # 1..100 ms
    put(cw, "Propensity", "ProbeSuccess", {"service": "propensity-test-probe"}, [1] * 9 + [0], recent)
    put(cw, "AWS/Lambda", "Invocations", {"FunctionName": FUNCTIONS["v1"]}, [600], recent)
    put(cw, "AWS/Lambda", "Invocations", {"FunctionName": FUNCTIONS["v2"]}, [400], recent)
    put(cw, "AWS/Lambda", "Errors", {"FunctionName": FUNCTIONS["v1"]}, [2], recent)
    put(cw, "Propensity", "Predictions", {"ApiVersion": "v2"}, [300, 100], recent)
    put(cw, "Propensity", "PredictionYes", {"ApiVersion": "v2"}, [40, 10], recent)
    put(cw, "Propensity", "ProbabilitySum", {"ApiVersion": "v2"}, [36.0, 12.0], recent)
    put(cw, "Propensity", "MaxFeaturePSI", {"ApiVersion": "v2"}, [0.08, 0.31], recent)
    put(cw, "Propensity", "PredictedYesRate", {"ApiVersion": "v2"}, [11.0, 13.0], recent)
    # and alarms of every tier, plus one of another team that must not appear
    topics = world["topics"]
    alarm(
        cw,
        "propensity-test-api-5xx-critical",
        topics["critical"],
        "critical",
        "api-5xx-critical",
        ["ALARM", "OK"],
    )
    alarm(
        cw,
        "propensity-test-latency-p95-info",
        topics["info"],
        "info",
        "latency-p95-info",
        ["ALARM", "OK", "ALARM"],
    )
    alarm(
        cw, "propensity-test-throttles-warning-v1", topics["warning"], "warning", "throttles-warning", ["OK"]
    )
    alarm(cw, "other-team-disk-full", world["other"], "critical", "disk", ["ALARM"])

    # When the scheduled digest runs (the window ends on the hour after now, so it covers now)
    handler = load_handler("digest")
    result = handler.lambda_handler(
        scheduled_event(now + timedelta(hours=1), rule="propensity-test-digest"),
        LambdaContext(function_name="propensity-test-digest"),
    )

    # Then Slack got one digest with every figure and only our alarms that fired
    assert result["delivered"] == ["slack", "email"] and result["alarms"] == 2
    [request] = world["slack"].requests
    assert request.path == "/services/T0/B0/DIGEST"
    message = request.json()
    text = slack_text(message)
    assert (
        message["text"].startswith("Propensity test daily digest")
        and "1 critical, 0 warning, 1 info" in message["text"]
    )
    assert "propensity-test-api-5xx-critical: propensity-test-api-5xx-critical summary; fired 1x" in text
    assert "propensity-test-latency-p95-info: propensity-test-latency-p95-info summary; fired 2x" in text
    assert "still in ALARM" in text and f"{RUNBOOK}#latency-p95-info" in text
    assert "*Warning alarms (0)*\nnone" in text
    assert "other-team" not in text and "throttles-warning" not in text
    assert "Requests: 1,000" in text
    assert "5xx: 12 (1.20%); 4xx: 30 (3.00%)" in text
    assert "Latency p50 / p95 / p99: 50 ms / 95 ms / 99 ms" in text
    assert "Synthetic probe: 10 runs, 90.0% passed" in text
    assert (
        "v1 (model v1-aaaa): invocations 600, function errors 2, throttles no data, predictions no data"
        in text
    )
    assert (
        "v2 (model v2-bbbb): invocations 400, function errors no data, throttles no data, predictions 400, "
        "yes 12.5%, mean probability 0.120"
    ) in text
    assert "predicted yes rate (%) 12" in text and "max feature PSI 0.31" in text
    assert f"<{DASHBOARD}|Dashboard>" in text

    # And the same digest went to the e-mail topic
    [mail] = world["sqs"].receive_message(QueueUrl=world["mailbox"], WaitTimeSeconds=0)["Messages"]
    envelope = json.loads(mail["Body"])
    assert envelope["Subject"].startswith("Propensity test daily digest")
    assert "CRITICAL alarms: 1" in envelope["Message"] and "INFO alarms: 1" in envelope["Message"]
    assert "Requests: 1,000" in envelope["Message"]


def test_a_quiet_day_still_produces_a_digest(world):
    # Given no traffic and no alarm at all
    handler = load_handler("digest")

    # When the digest runs
    handler.lambda_handler(scheduled_event(datetime.now(UTC)), LambdaContext())

    # Then it says so rather than inventing figures
    text = slack_text(world["slack"].requests[0].json())
    assert "*Critical alarms (0)*\nnone" in text
    assert "Requests: no data" in text
    assert "max feature PSI" not in text


def test_slack_down_still_emails_and_then_fails_for_the_dlq(world):
    # Given Slack answering 500 to every attempt
    world["slack"].default = Reply(500, b"oops")
    handler = load_handler("digest")

    # When the digest runs / Then the invocation fails (Lambda retries, then the DLQ) ...
    with pytest.raises(DeliveryError, match="slack: Slack unreachable after 4 attempts"):
        handler.lambda_handler(scheduled_event(datetime.now(UTC)), LambdaContext())

    # ... after the e-mail was sent anyway
    assert len(world["slack"].requests) == 4
    assert world["sqs"].receive_message(QueueUrl=world["mailbox"])["Messages"]

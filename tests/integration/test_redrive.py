"""Dead-letter redrives on moto SQS: labels re-ingested once, alerts resent in their current state.

The alert redrive reads each alarm from moto CloudWatch and sends what is true now through the
real notifier handler to a PagerDuty stand-in on 127.0.0.1: a queued ALARM whose alarm has
since recovered goes out as a resolve, never as a stale trigger.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from propensity.alerting.redrive import cloudwatch_describer, redrive_alerts
from propensity.archive.s3 import S3ArchiveStore
from propensity.cli import main
from propensity.labels.layout import RECORDS_PREFIX
from propensity.labels.outcomes import load_outcomes
from propensity.labels.redrive import redrive_labels
from propensity.labels.runtime import LabelSettings
from tests.events import LambdaContext, alarm_state_change, s3_event, sns_event
from tests.integration.stand_in import Reply, load_handler, serve

REGION = "eu-west-1"
BUCKET = "propensity-test-archive"
ALARM = "propensity-test-api-5xx-critical"
PAGERDUTY_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:propensity-test-notify-pagerduty"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def queue(aws):
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="propensity-test-dlq")["QueueUrl"]
    return sqs, url


def visible(sqs, url) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def destination_record(event, function_arn=PAGERDUTY_ARN) -> str:
    """What Lambda's on-failure destination puts in the queue after the last retry."""
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": "2026-11-26T07:03:00.000Z",
            "requestContext": {
                "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
                "functionArn": f"{function_arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {
                "errorMessage": "PagerDuty unreachable after 4 attempts",
                "errorType": "DeliveryError",
            },
        }
    )


# --- labels ---------------------------------------------------------------------------------


@pytest.fixture
def archive(aws):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return S3ArchiveStore(BUCKET, client=s3)


def test_labels_redrive_ingests_each_queued_file_once_and_keeps_what_failed(queue, archive, monkeypatch):
    sqs, url = queue
    # Given two files whose notifications failed (one as a DLQ body, one as a destination
    # record), one of them already ingested before the failure, and one unreadable message
    archive.put("labels/week-10.csv", b"prediction_id,outcome,outcome_date\np-1,yes,2026-03-10\n")
    archive.put("labels/week-11.csv", b"prediction_id,outcome,outcome_date\np-2,no,2026-03-11\n")
    settings = LabelSettings(archive_location=f"s3://{BUCKET}")
    redrive_labels(sqs, url, archive, settings)  # empty queue: nothing happens
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_event(BUCKET, ["labels/week-10.csv"])))
    sqs.send_message(QueueUrl=url, MessageBody=destination_record(s3_event(BUCKET, ["labels/week-11.csv"])))
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    from propensity.labels.ingest import ingest_object

    ingest_object(archive, "labels/week-10.csv")
    # When the queue is redriven, S3 failing once on the first write
    real_put, calls = archive.put, []

    def flaky_put(key, data, *, create_only=False):
        calls.append(key)
        if len(calls) == 1:
            raise ConnectionError("S3 503 Slow Down")
        real_put(key, data, create_only=create_only)

    monkeypatch.setattr(archive, "put", flaky_put)
    first = redrive_labels(sqs, url, archive, settings)
    # Then the duplicate is reported, the failed one stays queued, the unreadable one too
    assert (first.redriven, first.failed, first.unreadable) == (1, 1, 1)
    assert visible(sqs, url) == 2
    # And when the queue is redriven again, the failed one goes in; nothing counted twice
    second = redrive_labels(sqs, url, archive, settings)
    assert (second.redriven, second.failed, second.unreadable) == (1, 0, 1)
    book = load_outcomes(archive)
    assert {p: o.outcome for p, o in book.by_prediction.items()} == {"p-1": "yes", "p-2": "no"}
    assert book.duplicates == 0 and len(archive.list(RECORDS_PREFIX)) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["labels-redrive", "--archive", "s3://b"], "--queue-url"),
        (["labels-redrive", "--queue-url", "q", "--archive", "s3://b"], "must be an SQS queue URL"),
        (["labels-redrive", "--queue-url", "https://sqs/q", "--archive", "/tmp/x"], "must be s3://"),
        (["labels-redrive", "--queue-url", "https://sqs/q", "--archive", "s3://"], "must be s3://"),
        (
            ["labels-redrive", "--queue-url", "https://sqs/q", "--archive", "s3://b", "--limit", "0"],
            "--limit",
        ),
        (["alerts-redrive", "--queue-url", "q"], "must be an SQS queue URL"),
        (["alerts-redrive", "--queue-url", "https://sqs/q", "--limit", "5000"], "--limit"),
    ],
)
def test_redrive_commands_refuse_bad_arguments(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse: a missing required option
        code = stop.code
    assert code not in (0, None)
    assert message in capsys.readouterr().err


def test_labels_redrive_command_on_moto(queue, archive, capsys):
    sqs, url = queue
    archive.put("labels/w.csv", b"prediction_id,outcome,outcome_date\np-9,yes,2026-03-10\n")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_event(BUCKET, ["labels/w.csv"])))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"detail-type": "Scheduled Event"}))
    # the second message is no S3 notification: it fails and stays, and the command says so
    assert (
        main(["labels-redrive", "--queue-url", url, "--archive", f"s3://{BUCKET}", "--region", REGION]) == 1
    )
    out = capsys.readouterr()
    assert "redriven 1, failed 1" in out.out and "LabelEventError" in out.err
    assert list(load_outcomes(archive).by_prediction) == ["p-9"]


# --- alerts ---------------------------------------------------------------------------------


@pytest.fixture
def pagerduty(aws, monkeypatch):
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name="pd-key", SecretString="R0UT1NG0KEY")
    for name, value in {
        "PAGERDUTY_ROUTING_KEY_SECRET": "pd-key",
        "DASHBOARD_URL": "https://dashboard.example/propensity",
        "RUNBOOK_URL": "https://git.example/RUNBOOK.md",
        "ALERT_RETRY_BASE_DELAY_S": "0.01",
        "ALERT_HTTP_TIMEOUT_S": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    with serve(Reply(202, {"status": "success"})) as server:
        monkeypatch.setenv("PAGERDUTY_EVENTS_URL", server.url)
        yield server


def put_alarm(cloudwatch, name: str, state: str) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="5XXError",
        Namespace="AWS/ApiGateway",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=5,
        Threshold=5.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test: {state}")


@pytest.mark.parametrize(
    ("queued", "now", "sent"),
    [
        ("ALARM", "OK", "resolve"),  # recovered since: a resolve, not a stale trigger
        ("ALARM", "ALARM", "trigger"),  # still firing: joins the open incident by dedup key
        ("OK", "ALARM", "trigger"),  # fired again after the OK that failed: do not resolve it
        ("ALARM", None, "resolve"),  # the alarm was deleted: nothing will ever resolve it otherwise
    ],
)
def test_alert_redrive_sends_the_alarms_current_state(queue, pagerduty, queued, now, sent):
    sqs, url = queue
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    if now:
        put_alarm(cloudwatch, ALARM, now)
    # Given a notification that failed every retry while the alarm was `queued`
    event = sns_event(alarm_state_change(ALARM, queued, "OK" if queued == "ALARM" else "ALARM"))
    sqs.send_message(QueueUrl=url, MessageBody=destination_record(event))
    handler = load_handler("notify_pagerduty")
    invoked = []

    def invoke(function, event):
        invoked.append(function)
        handler.lambda_handler(event, LambdaContext())

    # When the queue is redriven
    summary = redrive_alerts(sqs, url, describe=cloudwatch_describer(cloudwatch), invoke=invoke)
    # Then PagerDuty got what is true now, through the notifier that failed, and the queue is empty
    assert summary.redriven == 1 and summary.ok
    assert [r.json()["event_action"] for r in pagerduty.requests] == [sent]
    assert invoked == [f"{PAGERDUTY_ARN}:$LATEST"]
    assert visible(sqs, url) == 0


def test_alert_redrive_of_an_sns_failure_needs_a_function_and_keeps_the_message_until_delivered(
    queue, pagerduty
):
    sqs, url = queue
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    put_alarm(cloudwatch, ALARM, "OK")
    # Given SNS's own delivery failure: the bare notification, naming no function
    notification = sns_event(alarm_state_change(ALARM, "ALARM", "OK"))["Records"][0]["Sns"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(notification))
    handler = load_handler("notify_pagerduty")

    def invoke(function, event):
        handler.lambda_handler(event, LambdaContext())

    describe = cloudwatch_describer(cloudwatch)
    # When it is redriven without --function / Then it stays queued, saying why
    first = redrive_alerts(sqs, url, describe=describe, invoke=invoke)
    assert first.failed == 1 and "does not name its function" in first.errors[0]
    assert pagerduty.requests == []
    # And with PagerDuty down, then up, it is delivered exactly once (a resolve)
    pagerduty.then(*[Reply(503, b"<html>upstream error for customer c-42</html>")] * 4)
    second = redrive_alerts(sqs, url, describe=describe, invoke=invoke, default_function="notify-pagerduty")
    assert second.failed == 1 and "c-42" not in " ".join(second.errors)
    third = redrive_alerts(sqs, url, describe=describe, invoke=invoke, default_function="notify-pagerduty")
    assert third.redriven == 1 and visible(sqs, url) == 0
    actions = [r.json()["event_action"] for r in pagerduty.requests]
    assert actions == ["resolve"] * 5  # 4 refused attempts, then the one accepted


def test_describer_reads_state_reason_and_time(aws):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    put_alarm(cloudwatch, ALARM, "ALARM")
    state, reason, changed = cloudwatch_describer(cloudwatch)(ALARM)
    assert (state, reason) == ("ALARM", "test: ALARM") and changed <= datetime.now(UTC)
    assert cloudwatch_describer(cloudwatch)("no-such-alarm") is None

"""The notifier functions against real HTTP stand-ins for PagerDuty and Slack on 127.0.0.1.

Secrets come from Secrets Manager (moto); the handlers are imported as Lambda would import
them and invoked with real SNS alarm events.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from propensity.alerting.alarm import AlarmMessageError
from propensity.alerting.description import describe_alarm
from propensity.alerting.retry import DeliveryError
from propensity.alerting.secrets import SecretError
from propensity.observability import metrics
from tests.events import LambdaContext, alarm_state_change, sns_event
from tests.integration.stand_in import Reply, load_handler, serve

REGION = "eu-west-1"
RUNBOOK = "https://git.example.com/propensity/blob/main/RUNBOOK.md"
DASHBOARD = "https://eu-west-1.console.aws.amazon.com/cloudwatch/home#dashboards:name=propensity-test"
ROUTING_KEY = "R0UT1NG0KEY0FOR0TESTS000000000000"
PD_ACCEPTED = Reply(202, {"status": "success", "message": "Event processed", "dedup_key": "x"})
SLACK_OK = Reply(200, b"ok")


@pytest.fixture(autouse=True)
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "DASHBOARD_URL": DASHBOARD,
        "RUNBOOK_URL": RUNBOOK,
        "ALERT_RETRY_ATTEMPTS": "4",
        "ALERT_RETRY_BASE_DELAY_S": "0.05",
        "ALERT_HTTP_TIMEOUT_S": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)
    metrics.clear_metrics()


@pytest.fixture
def pagerduty(aws, monkeypatch):
    aws.create_secret(Name="propensity/pagerduty-routing-key", SecretString=ROUTING_KEY)
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY_SECRET", "propensity/pagerduty-routing-key")
    monkeypatch.setenv("ALERT_SOURCE", "propensity-test eu-west-1")
    with serve(PD_ACCEPTED) as server:
        monkeypatch.setenv("PAGERDUTY_EVENTS_URL", server.url)
        yield server


@pytest.fixture
def slack(aws, monkeypatch):
    with serve(SLACK_OK) as server:
        # The webhook URL is the secret: the stand-in's address plus a Slack-shaped path.
        aws.create_secret(
            Name="propensity/slack-webhook-url", SecretString=f"{server.url}/services/T000/B000/XXXXXXXX"
        )
        monkeypatch.setenv("SLACK_WEBHOOK_SECRET", "propensity/slack-webhook-url")
        yield server


def alarm_event(state="ALARM", *, name="propensity-test-api-5xx-critical", tier="critical", topic=None):
    description = describe_alarm(
        summary="5xx rate over 5% for 5 minutes", tier=tier, runbook_url=RUNBOOK, anchor="api-5xx-critical"
    )
    old = "OK" if state == "ALARM" else "ALARM"
    return sns_event(
        alarm_state_change(name, state, old, description=description),
        topic=topic or f"propensity-test-{tier}",
    )


# PagerDuty ---------------------------------------------------------------------------------------


def test_alarm_triggers_and_ok_resolves_the_same_pagerduty_incident(pagerduty):
    # Given the PagerDuty notifier at cold start
    handler = load_handler("notify_pagerduty")

    # When the alarm fires, fires again (a repeat), then recovers
    first = handler.lambda_handler(alarm_event("ALARM"), LambdaContext())
    handler.lambda_handler(alarm_event("ALARM"), LambdaContext())
    handler.lambda_handler(alarm_event("OK"), LambdaContext())

    # Then PagerDuty received two triggers and one resolve, all on the one dedup key
    assert first == {"channel": "pagerduty", "delivered": ["propensity-test-api-5xx-critical"], "skipped": []}
    assert [(r.method, r.path) for r in pagerduty.requests] == [("POST", "/v2/enqueue")] * 3
    bodies = [r.json() for r in pagerduty.requests]
    assert [b["event_action"] for b in bodies] == ["trigger", "trigger", "resolve"]
    keys = {b["dedup_key"] for b in bodies}
    assert keys == {"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:propensity-test-api-5xx-critical"}
    assert all(b["routing_key"] == ROUTING_KEY for b in bodies)
    trigger = bodies[0]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "propensity-test eu-west-1"
    assert trigger["payload"]["summary"].startswith("[critical] propensity-test-api-5xx-critical")
    assert {link["href"] for link in trigger["links"]} >= {f"{RUNBOOK}#api-5xx-critical", DASHBOARD}
    assert pagerduty.requests[0].headers["content-type"] == "application/json"


def test_routing_key_is_read_once_per_execution_environment(pagerduty, aws):
    # Given a warm notifier that has already delivered once
    handler = load_handler("notify_pagerduty")
    handler.lambda_handler(alarm_event("ALARM"), LambdaContext())

    # When the secret disappears (a later Secrets Manager outage) and another alarm arrives
    aws.delete_secret(SecretId="propensity/pagerduty-routing-key", ForceDeleteWithoutRecovery=True)
    handler.lambda_handler(alarm_event("OK"), LambdaContext())

    # Then the cached key was used: both reached PagerDuty
    assert [r.json()["routing_key"] for r in pagerduty.requests] == [ROUTING_KEY, ROUTING_KEY]


def test_pagerduty_5xx_is_retried_with_backoff_until_accepted(pagerduty):
    # Given PagerDuty failing twice before accepting
    pagerduty.then(Reply(500, {"status": "error"}), Reply(503, b"unavailable"))
    handler = load_handler("notify_pagerduty")

    # When an alarm is delivered
    result = handler.lambda_handler(alarm_event("ALARM"), LambdaContext())

    # Then it got through on the third attempt, each retry waiting at least its backoff delay
    assert result["delivered"] == ["propensity-test-api-5xx-critical"]
    assert len(pagerduty.requests) == 3
    gaps = [b.at - a.at for a, b in zip(pagerduty.requests, pagerduty.requests[1:], strict=False)]
    assert gaps[0] >= 0.05 * 0.8 and gaps[1] >= 0.10 * 0.8
    assert len({r.body for r in pagerduty.requests}) == 1  # the very same event each time


def test_pagerduty_timeouts_are_retried(pagerduty):
    # Given PagerDuty hanging longer than the 0.5 s client timeout, twice
    pagerduty.then(
        Reply(202, {"status": "success"}, delay_s=1.5), Reply(202, {"status": "success"}, delay_s=1.5)
    )
    handler = load_handler("notify_pagerduty")

    # When an alarm is delivered
    result = handler.lambda_handler(alarm_event("ALARM"), LambdaContext())

    # Then the third, prompt attempt delivered it
    assert result["delivered"] and len(pagerduty.requests) == 3


def test_pagerduty_down_fails_the_invocation_after_the_last_retry(pagerduty):
    # Given PagerDuty answering 502 to everything
    pagerduty.default = Reply(502, b"bad gateway")
    handler = load_handler("notify_pagerduty")

    # When an alarm arrives / Then the invocation fails after exactly the configured attempts,
    # which is what hands the event to Lambda's retries and then to the alert DLQ
    with pytest.raises(DeliveryError, match="after 4 attempts"):
        handler.lambda_handler(alarm_event("ALARM"), LambdaContext())
    assert len(pagerduty.requests) == 4


def test_pagerduty_refusing_the_event_is_not_retried(pagerduty):
    pagerduty.then(Reply(400, {"status": "invalid event", "errors": ["'routing_key' is invalid"]}))
    handler = load_handler("notify_pagerduty")
    with pytest.raises(DeliveryError, match="refused"):
        handler.lambda_handler(alarm_event("ALARM"), LambdaContext())
    assert len(pagerduty.requests) == 1


def test_missing_routing_key_fails_loudly(aws, monkeypatch):
    # Given a deployment whose routing key secret was never created
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY_SECRET", "propensity/not-there")
    with serve(PD_ACCEPTED) as server:
        monkeypatch.setenv("PAGERDUTY_EVENTS_URL", server.url)
        handler = load_handler("notify_pagerduty")

        # When an alarm arrives / Then the invocation fails (DLQ) and nothing was sent
        with pytest.raises(SecretError, match="propensity/not-there"):
            handler.lambda_handler(alarm_event("ALARM"), LambdaContext())
        assert server.requests == []


def test_a_message_that_is_not_an_alarm_fails_the_invocation(pagerduty):
    handler = load_handler("notify_pagerduty")
    with pytest.raises(AlarmMessageError):
        handler.lambda_handler(sns_event("Hello from the console"), LambdaContext())
    assert pagerduty.requests == []


# Slack -------------------------------------------------------------------------------------------


def test_warning_alarm_posts_a_readable_slack_message(slack):
    # Given the Slack notifier at cold start
    handler = load_handler("notify_slack")

    # When a warning alarm fires
    result = handler.lambda_handler(
        alarm_event("ALARM", name="propensity-test-latency-p95-warning", tier="warning"), LambdaContext()
    )

    # Then the webhook received one message with the alarm, reason, metric, threshold and links
    assert result["delivered"] == ["propensity-test-latency-p95-warning"]
    [request] = slack.requests
    assert request.path == "/services/T000/B000/XXXXXXXX"
    message = request.json()
    assert message["text"].startswith(":rotating_light: [warning] propensity-test-latency-p95-warning ALARM")
    rendered = "\n".join(
        block.get("text", {}).get("text", "")
        if "text" in block
        else "\n".join(f["text"] for f in block.get("fields", []))
        + "\n".join(e["text"] for e in block.get("elements", []))
        for block in message["blocks"]
    )
    for expected in (
        "Threshold Crossed",
        "AWS/ApiGateway/5XXError",
        "&gt; 5 for 5 of 5 periods of 60 s",
        f"<{DASHBOARD}|Dashboard>",
        f"<{RUNBOOK}#api-5xx-critical|Runbook: api-5xx-critical>",
    ):
        assert expected in rendered


def test_slack_rate_limit_is_retried_after_the_advertised_delay(slack):
    slack.then(Reply(429, b"rate_limited", headers={"Retry-After": "0.2"}))
    handler = load_handler("notify_slack")
    handler.lambda_handler(alarm_event("OK", tier="warning"), LambdaContext())
    assert len(slack.requests) == 2
    assert slack.requests[1].at - slack.requests[0].at >= 0.2


def test_slack_outage_and_timeouts_end_in_failure_after_the_last_retry(slack):
    # Given Slack alternating between 500s and hanging past the client timeout
    slack.then(Reply(500), Reply(200, b"ok", delay_s=1.5), Reply(500), Reply(200, b"ok", delay_s=1.5))
    handler = load_handler("notify_slack")

    # When an alarm arrives / Then every attempt is used and the invocation fails (-> DLQ)
    with pytest.raises(DeliveryError, match="Slack unreachable after 4 attempts"):
        handler.lambda_handler(alarm_event("ALARM", tier="warning"), LambdaContext())
    assert len(slack.requests) == 4


def test_slack_webhook_gone_is_not_retried(slack):
    slack.then(Reply(404, b"no_service"))
    handler = load_handler("notify_slack")
    with pytest.raises(DeliveryError, match="no_service"):
        handler.lambda_handler(alarm_event("ALARM", tier="warning"), LambdaContext())
    assert len(slack.requests) == 1

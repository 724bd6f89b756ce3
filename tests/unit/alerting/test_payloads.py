"""What PagerDuty and Slack receive for an alarm (payload builders, no network)."""

from __future__ import annotations

import json

from propensity.alerting.alarm import parse_alarm_message
from propensity.alerting.description import describe_alarm
from propensity.alerting.links import AlertLinks
from propensity.alerting.pagerduty import dedup_key, pagerduty_event
from propensity.alerting.slack import escape, slack_alarm_message
from tests.events import alarm_state_change

RUNBOOK = "https://git.example.com/propensity/blob/main/RUNBOOK.md"
LINKS = AlertLinks(dashboard_url="https://console.example/dashboards/propensity-prod", runbook_url=RUNBOOK)


def alarm(state="ALARM", tier="critical", name="propensity-prod-api-5xx-critical", **kwargs):
    description = describe_alarm(
        summary="5xx rate over 5% for 5 minutes", tier=tier, runbook_url=RUNBOOK, anchor="api-5xx-critical"
    )
    old = "OK" if state == "ALARM" else "ALARM"
    return parse_alarm_message(
        json.dumps(alarm_state_change(name, state, old, description=description, **kwargs))
    )


def test_alarm_triggers_an_incident_with_mapped_severity_and_links():
    # Given a critical alarm going to ALARM
    subject = alarm()

    # When the PagerDuty event is built
    event = pagerduty_event(
        subject, routing_key="R0UT1NGKEY", links=LINKS, source="propensity-prod eu-west-1"
    )

    # Then it is a trigger keyed by the alarm ARN, with severity, summary, details and links
    assert event is not None
    assert event["routing_key"] == "R0UT1NGKEY"
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == subject.arn
    payload = event["payload"]
    assert payload["severity"] == "critical"
    assert payload["summary"] == "[critical] propensity-prod-api-5xx-critical: 5xx rate over 5% for 5 minutes"
    assert payload["source"] == "propensity-prod eu-west-1"
    assert payload["component"] == "5XXError" and payload["group"] == "AWS/ApiGateway"
    assert payload["custom_details"]["reason"].startswith("Threshold Crossed")
    assert payload["custom_details"]["threshold"] == "> 5 for 5 of 5 periods of 60 s"
    hrefs = [link["href"] for link in event["links"]]
    assert hrefs[0] == f"{RUNBOOK}#api-5xx-critical"
    assert LINKS.dashboard_url in hrefs
    assert payload["timestamp"] == "2026-11-26T07:00:00+00:00"


def test_ok_resolves_the_same_incident():
    # Given the same alarm returning to OK
    fired, resolved = alarm("ALARM"), alarm("OK")

    # When both events are built
    trigger = pagerduty_event(fired, routing_key="k", links=LINKS, source="s")
    resolve = pagerduty_event(resolved, routing_key="k", links=LINKS, source="s")

    # Then OK resolves, with the very dedup key the trigger opened
    assert resolve == {"routing_key": "k", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}


def test_severity_follows_the_tier_and_insufficient_data_is_not_an_incident():
    assert (
        pagerduty_event(alarm(tier="warning"), routing_key="k", links=LINKS, source="s")["payload"][
            "severity"
        ]
        == "warning"
    )
    assert (
        pagerduty_event(alarm(tier="info"), routing_key="k", links=LINKS, source="s")["payload"]["severity"]
        == "info"
    )
    insufficient = alarm("INSUFFICIENT_DATA")
    assert pagerduty_event(insufficient, routing_key="k", links=LINKS, source="s") is None


def test_dedup_key_stays_within_pagerduty_limits_and_is_stable():
    # Given an alarm whose ARN is longer than PagerDuty's 255-character dedup key
    long_one = alarm(name="a" * 250)

    # When its key is computed twice
    first, second = dedup_key(long_one), dedup_key(long_one)

    # Then it is short enough, and the same each time
    assert len(first) <= 255 and first == second and first.startswith("cloudwatch-alarm:")


def test_slack_message_is_readable_and_links_dashboard_and_runbook():
    # Given a warning alarm with characters Slack would otherwise read as markup
    subject = alarm(tier="warning", reason="p95 <latency> & friends went over 500")

    # When the Slack message is built
    message = slack_alarm_message(subject, LINKS)

    # Then it has a fallback text, a header, the reason escaped, the metric, threshold and links
    assert message["text"].startswith(":rotating_light: [warning] propensity-prod-api-5xx-critical ALARM")
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == ":rotating_light: [warning] propensity-prod-api-5xx-critical ALARM"
    assert "p95 &lt;latency&gt; &amp; friends" in blocks[1]["text"]["text"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in blocks[2]["fields"]}
    assert fields["*State*"] == "OK → ALARM"
    assert fields["*Metric*"].startswith("AWS/ApiGateway/5XXError")
    assert fields["*Threshold*"] == "&gt; 5 for 5 of 5 periods of 60 s"
    links = blocks[3]["elements"][0]["text"]
    assert f"<{RUNBOOK}#api-5xx-critical|Runbook: api-5xx-critical>" in links
    assert f"<{LINKS.dashboard_url}|Dashboard>" in links


def test_slack_says_resolved_on_ok():
    message = slack_alarm_message(alarm("OK"), LINKS)
    assert message["blocks"][0]["text"]["text"].startswith(":white_check_mark: [critical]")
    assert "resolved" in message["blocks"][0]["text"]["text"]
    assert escape("<a|b>") == "&lt;a|b&gt;"

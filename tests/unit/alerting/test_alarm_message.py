"""Reading CloudWatch alarm notifications as SNS delivers them."""

from __future__ import annotations

import json

import pytest

from propensity.alerting.alarm import AlarmMessageError, alarms_from_sns_event, parse_alarm_message
from propensity.alerting.description import AlarmDescription, describe_alarm, runbook_link
from tests.events import alarm_state_change, sns_event

RUNBOOK = "https://git.example.com/propensity/blob/main/RUNBOOK.md"


def test_metric_alarm_is_parsed_with_tier_runbook_metric_and_threshold():
    # Given the notification CloudWatch sends for a metric alarm whose description follows the catalogue
    description = describe_alarm(
        summary="5xx rate over 5% for 5 minutes",
        tier="critical",
        runbook_url=RUNBOOK,
        anchor="api-5xx-critical",
    )
    event = sns_event(alarm_state_change("propensity-prod-api-5xx-critical", description=description))

    # When the event is read
    [alarm] = alarms_from_sns_event(event)

    # Then every field a person needs is there
    assert alarm.name == "propensity-prod-api-5xx-critical"
    assert alarm.new_state == "ALARM" and alarm.old_state == "OK"
    assert alarm.tier == "critical"
    assert alarm.summary == "5xx rate over 5% for 5 minutes"
    assert alarm.parsed_description.runbook == f"{RUNBOOK}#api-5xx-critical"
    assert alarm.region == "eu-west-1"
    assert alarm.metric_label == "AWS/ApiGateway/5XXError average (ApiName=propensity)"
    assert alarm.threshold_label == "> 5 for 5 of 5 periods of 60 s"
    assert alarm.changed_at.utcoffset() is not None and alarm.changed_at.hour == 7
    assert alarm.console_url.endswith("#alarmsV2:alarm/propensity-prod-api-5xx-critical")


def test_metric_math_alarm_names_its_expression():
    # Given a metric-math alarm: Trigger.Metrics instead of a single metric
    message = alarm_state_change("propensity-prod-no-traffic")
    trigger = message["Trigger"]
    for key in ("MetricName", "Namespace", "Statistic", "StatisticType", "Dimensions"):
        trigger.pop(key)
    trigger["Threshold"] = 1.0
    trigger["ComparisonOperator"] = "LessThanThreshold"
    trigger["Metrics"] = [
        {
            "Id": "requests",
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/ApiGateway",
                    "MetricName": "Count",
                    "Dimensions": [{"value": "propensity-prod-api", "name": "ApiName"}],
                },
                "Period": 600,
                "Stat": "Sum",
            },
        },
        {
            "Id": "consumers",
            "Expression": "FILL(requests, 0) - FILL(probe, 0)",
            "Label": "consumer requests",
            "ReturnData": True,
        },
    ]

    # When it is parsed
    alarm = parse_alarm_message(json.dumps(message))

    # Then the label of the returned series describes what is watched
    assert alarm.metric_label == "consumer requests"
    assert alarm.threshold_label.startswith("< 1 ")
    assert alarm.trigger is not None and alarm.trigger.metrics[0].metric is not None
    assert alarm.trigger.metrics[0].metric.dimensions == {"ApiName": "propensity-prod-api"}


def test_composite_alarm_has_no_trigger_and_is_still_readable():
    # Given a composite alarm's notification (no Trigger, an AlarmRule)
    message = alarm_state_change("propensity-prod-composite")
    del message["Trigger"]
    message["AlarmRule"] = "ALARM(a) OR ALARM(b)"

    # When it is parsed
    alarm = parse_alarm_message(json.dumps(message))

    # Then it says what it is made of
    assert alarm.metric_label == "composite: ALARM(a) OR ALARM(b)"


def test_tier_falls_back_to_the_topic_when_the_description_has_none():
    # Given an alarm created elsewhere with a free-text description, delivered through the warning topic
    event = sns_event(
        alarm_state_change("someone-elses-alarm", description="disk is filling"),
        topic="propensity-prod-warning",
    )

    # When it is read
    [alarm] = alarms_from_sns_event(event)

    # Then the topic decides the tier and the text is kept as summary
    assert alarm.tier == "warning"
    assert alarm.summary == "disk is filling"
    assert alarm.parsed_description.runbook is None


@pytest.mark.parametrize("body", ["not json", json.dumps({"hello": "world"}), json.dumps([1, 2])])
def test_a_message_that_is_not_an_alarm_is_refused(body):
    # Given an SNS message that is not a CloudWatch alarm state change
    event = sns_event(body)

    # When / Then reading it fails loudly (the event then reaches the dead-letter queue)
    with pytest.raises(AlarmMessageError):
        alarms_from_sns_event(event)


def test_an_event_without_records_is_refused():
    with pytest.raises(AlarmMessageError, match="no Records"):
        alarms_from_sns_event({"detail-type": "Scheduled Event"})


def test_description_round_trip_and_limits():
    # Given a description written by the catalogue
    text = describe_alarm(
        summary="p95 latency over 500 ms.",
        tier="warning",
        runbook_url=RUNBOOK + "#old",
        anchor="latency-p95-warning",
    )

    # When it is parsed back
    parsed = AlarmDescription.parse(text)

    # Then summary, tier and runbook survive, and the URL's own anchor was replaced
    assert parsed == AlarmDescription("p95 latency over 500 ms", "warning", f"{RUNBOOK}#latency-p95-warning")
    with pytest.raises(ValueError, match="anchor"):
        runbook_link(RUNBOOK, "Not An Anchor")
    with pytest.raises(ValueError, match="1024"):
        describe_alarm(summary="x" * 1100, tier="info", runbook_url=RUNBOOK, anchor="a")

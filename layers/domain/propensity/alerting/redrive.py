"""Redrive the alert dead-letter queue without replaying history wrongly.

A notification that failed at 07:00 (ALARM) and is redriven at 09:00, after the alarm went
back to OK, must not open an incident nobody can see resolved: the OK went out (or failed
too) long ago. So each queued alarm is re-read from CloudWatch and sent *as it is now*:
an alarm that is OK again goes out as a resolve, one still in ALARM as a trigger (PagerDuty
joins it to the open incident by its dedup key), a deleted alarm as a resolve. The event is
then handed to the notifier function that failed it (the destination record names it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from propensity.alerting.alarm import AlarmMessageError, alarms_from_sns_event
from propensity.deadletter import DeadLetter, RedriveSummary, redrive
from propensity.observability import logger

# (state, reason, changed at) of an alarm now, or None when it no longer exists.
AlarmState = tuple[str, str, datetime] | None
DescribeAlarm = Callable[[str], AlarmState]
Invoke = Callable[[str, dict[str, Any]], None]


def cloudwatch_describer(cloudwatch: Any) -> DescribeAlarm:
    """The current state of an alarm by name, from ``cloudwatch:DescribeAlarms``."""

    def describe(name: str) -> AlarmState:
        found = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        for alarm in [*found.get("MetricAlarms", []), *found.get("CompositeAlarms", [])]:
            changed = alarm.get("StateUpdatedTimestamp") or datetime.now(UTC)
            return str(alarm["StateValue"]), str(alarm.get("StateReason", "")), changed
        return None

    return describe


def lambda_invoker(lambda_client: Any) -> Invoke:
    """Invoke the notifier synchronously, so a failed delivery keeps its message queued."""

    def invoke(function: str, event: dict[str, Any]) -> None:
        response = lambda_client.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        if response.get("FunctionError"):
            detail = response["Payload"].read()[:300].decode("utf-8", errors="replace")
            raise RuntimeError(f"{function} failed again: {response['FunctionError']}: {detail}")

    return invoke


def as_lambda_event(event: dict[str, Any]) -> dict[str, Any]:
    """An SNS-to-Lambda event; an SNS subscription DLQ holds the bare notification instead."""
    if event.get("Type") == "Notification" and "Message" in event:
        return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": event}]}
    return event


def refresh(event: dict[str, Any], describe: DescribeAlarm) -> tuple[dict[str, Any], list[str]]:
    """The event with each alarm's state replaced by its current one; what changed, in words."""
    event = as_lambda_event(event)
    alarms = alarms_from_sns_event(event)  # AlarmMessageError: left in the queue, reported
    changes: list[str] = []
    records = []
    for record, alarm in zip(event["Records"], alarms, strict=True):
        now = describe(alarm.name)
        state, reason, changed = now or ("OK", "the alarm no longer exists", datetime.now(UTC))
        message = json.loads(record["Sns"]["Message"])
        if state != alarm.new_state:
            changes.append(f"{alarm.name}: queued as {alarm.new_state}, now {state}")
            message.update(
                {
                    "OldStateValue": alarm.new_state,
                    "NewStateValue": state,
                    "NewStateReason": f"Redriven from the alert dead-letter queue: the alarm is {state} now "
                    f"(the undelivered notification said {alarm.new_state}). {reason}",
                    "StateChangeTime": changed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                }
            )
        records.append({**record, "Sns": {**record["Sns"], "Message": json.dumps(message)}})
    return {**event, "Records": records}, changes


def redrive_alerts(
    sqs: Any,
    queue_url: str,
    *,
    describe: DescribeAlarm,
    invoke: Invoke,
    default_function: str | None = None,
    limit: int = 100,
) -> RedriveSummary:
    """Send every queued alarm again, in its current state, through the notifier that failed it."""

    def resend(letter: DeadLetter) -> None:
        function = letter.function_arn or default_function
        if function is None:
            raise ValueError("the message does not name its function; pass the notifier to send it to")
        try:
            event, changes = refresh(letter.event, describe)
        except AlarmMessageError:
            if "Records" in letter.event:
                raise
            event, changes = letter.event, []  # the digest's scheduled event: resend as it was
        for change in changes:
            logger.info("stale alert refreshed before redrive", extra={"change": change})
        invoke(function, event)

    return redrive(sqs, queue_url, resend, limit=limit)

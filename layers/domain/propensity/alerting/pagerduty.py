"""PagerDuty Events API v2: trigger on ALARM, resolve on OK, one incident per alarm.

The dedup key is the alarm's ARN, stable across state changes, so repeated ALARM
notifications join the open incident and the OK notification resolves exactly it.
https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, Final

from propensity.alerting.alarm import AlarmNotification
from propensity.alerting.http import HttpResponse, post_json
from propensity.alerting.links import AlertLinks
from propensity.alerting.retry import Delivered, Remaining, RetryPolicy, Sleep, deliver, redacted
from propensity.alerting.tiers import PAGERDUTY_SEVERITY
from propensity.observability import logger

PAGERDUTY_EVENTS_URL: Final[str] = "https://events.pagerduty.com"
ENQUEUE_PATH: Final[str] = "/v2/enqueue"
MAX_DEDUP_KEY: Final[int] = 255
MAX_SUMMARY: Final[int] = 1024

Sender = Callable[..., HttpResponse]


def dedup_key(alarm: AlarmNotification) -> str:
    """The alarm ARN (hashed only if it exceeds PagerDuty's 255 characters)."""
    if len(alarm.arn) <= MAX_DEDUP_KEY:
        return alarm.arn
    digest = hashlib.sha256(alarm.arn.encode()).hexdigest()
    return f"cloudwatch-alarm:{digest}"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pagerduty_event(
    alarm: AlarmNotification, *, routing_key: str, links: AlertLinks, source: str
) -> dict[str, Any] | None:
    """The Events API v2 body for this state change, or None when there is nothing to send.

    ALARM triggers (severity from the tier), OK resolves, INSUFFICIENT_DATA is not an
    incident on its own (alarms that must page on missing data treat it as breaching).
    """
    key = dedup_key(alarm)
    if alarm.new_state == "OK":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}
    if alarm.new_state != "ALARM":
        return None
    # It reached the critical notifier, so without a tier it is treated as critical.
    tier = alarm.tier or "critical"
    trigger = alarm.trigger
    details: dict[str, Any] = {
        "alarm": alarm.name,
        "tier": tier,
        "state": f"{alarm.old_state or '?'} -> {alarm.new_state}",
        "reason": alarm.reason,
        "metric": alarm.metric_label,
        "threshold": alarm.threshold_label,
        "account": alarm.account,
        "region": alarm.region,
        "runbook": links.runbook_for(alarm),
        "dashboard": links.dashboard_url,
    }
    if trigger is not None and trigger.treat_missing_data:
        details["missing_data"] = trigger.treat_missing_data
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {
            "summary": _truncate(f"[{tier}] {alarm.name}: {alarm.summary}", MAX_SUMMARY),
            "source": source,
            "severity": PAGERDUTY_SEVERITY[tier],
            "timestamp": alarm.changed_at_utc().isoformat(),
            "component": (trigger.metric_name if trigger and trigger.metric_name else alarm.name),
            "group": (trigger.namespace if trigger and trigger.namespace else "CloudWatch"),
            "class": "cloudwatch-alarm",
            "custom_details": details,
        },
        "client": "Propensity alerting",
        "client_url": links.dashboard_url,
        "links": [
            {"href": links.runbook_for(alarm), "text": links.runbook_label(alarm)},
            {"href": links.dashboard_url, "text": "CloudWatch dashboard"},
            {"href": alarm.console_url, "text": "Alarm in the CloudWatch console"},
        ],
    }


class PagerDutyNotifier:
    """Sends alarm state changes to one PagerDuty service (its integration routing key)."""

    def __init__(
        self,
        *,
        routing_key: Callable[[], str],
        links: AlertLinks,
        source: str,
        events_url: str = PAGERDUTY_EVENTS_URL,
        policy: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        send: Sender = post_json,
    ) -> None:
        self._routing_key = routing_key
        self.links = links
        self.source = source
        self.url = events_url.rstrip("/") + ENQUEUE_PATH
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._send = send

    def notify(self, alarm: AlarmNotification, *, remaining_s: Remaining | None = None) -> Delivered | None:
        """Deliver one state change; raises ``DeliveryError`` when PagerDuty cannot be reached."""
        body = pagerduty_event(alarm, routing_key=self._routing_key(), links=self.links, source=self.source)
        if body is None:
            logger.info(
                "no PagerDuty action for this state", extra={"alarm": alarm.name, "state": alarm.new_state}
            )
            return None
        delivered = deliver(
            lambda timeout: self._send(self.url, body, timeout=timeout),
            target="PagerDuty",
            policy=self.policy,
            sleep=self._sleep,
            remaining_s=remaining_s,
        )
        logger.info(
            "PagerDuty event accepted",
            extra={
                "alarm": alarm.name,
                "action": body["event_action"],
                "dedup_key": body["dedup_key"],
                "attempts": delivered.attempts,
                "response": redacted(delivered.body),
            },
        )
        return delivered

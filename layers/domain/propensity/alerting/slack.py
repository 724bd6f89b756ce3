"""Slack incoming webhooks: a readable alarm message, and the daily digest.

Block Kit with a plain ``text`` fallback (what notifications and screen readers show).
https://api.slack.com/messaging/webhooks
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from propensity.alerting.alarm import AlarmNotification
from propensity.alerting.http import HttpResponse, post_json
from propensity.alerting.links import AlertLinks
from propensity.alerting.retry import Delivered, Remaining, RetryPolicy, Sleep, deliver
from propensity.observability import logger

# Block Kit limits: header text 150 characters, section text 3000, field text 2000.
MAX_HEADER: Final[int] = 150
MAX_SECTION: Final[int] = 3000
MAX_FIELD: Final[int] = 2000

_STATE_ICON: Final[dict[str, str]] = {
    "ALARM": ":rotating_light:",
    "OK": ":white_check_mark:",
    "INSUFFICIENT_DATA": ":grey_question:",
}

Sender = Callable[..., HttpResponse]


def escape(text: str) -> str:
    """Slack mrkdwn control characters (``& < >``) as entities, so text cannot forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def link(url: str, label: str) -> str:
    return f"<{url}|{escape(label)}>"


def slack_alarm_message(alarm: AlarmNotification, links: AlertLinks) -> dict[str, Any]:
    """A message that answers: what fired, how bad, why, what it watches, where to look."""
    tier = alarm.tier or "unclassified"
    icon = _STATE_ICON.get(alarm.new_state, "")
    verb = "resolved" if alarm.new_state == "OK" else alarm.new_state
    title = f"{icon} [{tier}] {alarm.name} {verb}".strip()
    fields = [
        ("State", f"{alarm.old_state or '?'} → {alarm.new_state}"),
        ("Tier", tier),
        ("Metric", alarm.metric_label),
        ("Threshold", alarm.threshold_label),
        ("Changed at", alarm.changed_at_utc().strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Account / region", f"{alarm.account} / {alarm.region}"),
    ]
    links_line = " · ".join(
        [
            link(links.runbook_for(alarm), links.runbook_label(alarm)),
            link(links.dashboard_url, "Dashboard"),
            link(alarm.console_url, "Alarm in console"),
        ]
    )
    return {
        "text": _cut(f"{title}: {alarm.summary}. Reason: {alarm.reason}", MAX_SECTION),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _cut(title, MAX_HEADER), "emoji": True},
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _cut(f"*{escape(alarm.summary)}*\n*Reason:* {escape(alarm.reason)}", MAX_SECTION),
                },
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _cut(f"*{name}*\n{escape(value)}", MAX_FIELD)}
                    for name, value in fields
                ],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": links_line}]},
        ],
    }


class SlackNotifier:
    """Posts messages to one incoming webhook (the URL is the secret)."""

    def __init__(
        self,
        *,
        webhook_url: Callable[[], str],
        links: AlertLinks,
        policy: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        send: Sender = post_json,
    ) -> None:
        self._webhook_url = webhook_url
        self.links = links
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._send = send

    def post(self, message: dict[str, Any], *, remaining_s: Remaining | None = None) -> Delivered:
        """Post one message; raises ``DeliveryError`` when Slack cannot be reached."""
        url = self._webhook_url()
        return deliver(
            lambda timeout: self._send(url, message, timeout=timeout),
            target="Slack",
            policy=self.policy,
            sleep=self._sleep,
            remaining_s=remaining_s,
        )

    def notify(self, alarm: AlarmNotification, *, remaining_s: Remaining | None = None) -> Delivered:
        delivered = self.post(slack_alarm_message(alarm, self.links), remaining_s=remaining_s)
        logger.info(
            "Slack message posted",
            extra={"alarm": alarm.name, "state": alarm.new_state, "attempts": delivered.attempts},
        )
        return delivered

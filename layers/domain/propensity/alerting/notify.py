"""What the notifier functions do: parse the SNS event, deliver each alarm, report.

Handlers call :func:`handle_alarm_event` with a notifier built once per execution
environment by :func:`pagerduty_notifier` or :func:`slack_notifier`.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from propensity.alerting.alarm import AlarmMessageError, AlarmNotification, alarms_from_sns_event
from propensity.alerting.aws import secrets_manager_store
from propensity.alerting.links import AlertLinks
from propensity.alerting.pagerduty import PagerDutyNotifier
from propensity.alerting.retry import Delivered, DeliveryError, Remaining, Sleep
from propensity.alerting.secrets import SecretStore
from propensity.alerting.settings import AlertSettings, PagerDutySettings, SlackSettings
from propensity.alerting.slack import SlackNotifier
from propensity.observability import logger, metrics


class Notify(Protocol):
    def __call__(
        self, alarm: AlarmNotification, *, remaining_s: Remaining | None = None
    ) -> Delivered | None: ...


def _links(settings: AlertSettings) -> AlertLinks:
    return AlertLinks(dashboard_url=settings.dashboard_url, runbook_url=settings.runbook_url)


def pagerduty_notifier(
    settings: PagerDutySettings, secrets: SecretStore | None = None, *, sleep: Sleep = time.sleep
) -> PagerDutyNotifier:
    """A PagerDuty notifier whose routing key is read (once) from Secrets Manager."""
    store = secrets or secrets_manager_store(settings.region)
    return PagerDutyNotifier(
        routing_key=lambda: store.get(settings.routing_key_secret),
        links=_links(settings),
        source=settings.source,
        events_url=settings.events_url,
        policy=settings.retry,
        sleep=sleep,
    )


def slack_notifier(
    settings: SlackSettings, secrets: SecretStore | None = None, *, sleep: Sleep = time.sleep
) -> SlackNotifier:
    """A Slack notifier whose webhook URL is read (once) from Secrets Manager."""
    store = secrets or secrets_manager_store(settings.region)
    return SlackNotifier(
        webhook_url=lambda: store.get(settings.webhook_secret),
        links=_links(settings),
        policy=settings.retry,
        sleep=sleep,
    )


def handle_alarm_event(
    event: dict[str, Any], notify: Notify, *, channel: str, remaining_s: Remaining | None = None
) -> dict[str, Any]:
    """Deliver every alarm in an SNS event through ``notify``.

    A message that is not an alarm, or an alarm that cannot be delivered, raises: the
    invocation fails, Lambda retries it, and then the event lands in the alert DLQ.
    ``remaining_s`` is the invocation's time left: a wait that would not fit fails now.
    """
    try:
        alarms = alarms_from_sns_event(event)
    except AlarmMessageError:
        logger.exception("unreadable alert message; failing so it reaches the dead-letter queue")
        metrics.add_metric(name="AlertsUnreadable", unit=MetricUnit.Count, value=1)
        raise
    delivered: list[str] = []
    skipped: list[str] = []
    for alarm in alarms:
        logger.append_keys(alarm=alarm.name, alarm_state=alarm.new_state, tier=alarm.tier)
        try:
            result = notify(alarm, remaining_s=remaining_s)
        except DeliveryError as error:
            logger.error(
                "alert delivery failed",
                extra={
                    "channel": channel,
                    "error": str(error),
                    "attempts": error.attempts,
                    "status": error.status,
                },
            )
            metrics.add_metric(name="AlertDeliveryFailures", unit=MetricUnit.Count, value=1)
            raise
        (delivered if result is not None else skipped).append(alarm.name)
        if result is not None:
            metrics.add_metric(name="AlertsDelivered", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="AlertDeliveryAttempts", unit=MetricUnit.Count, value=result.attempts)
    return {"channel": channel, "delivered": delivered, "skipped": skipped}

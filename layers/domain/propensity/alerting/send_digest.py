"""Compose the daily digest and deliver it to Slack and by e-mail (an SNS topic)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from propensity.alerting.aws import cloudwatch_digest_source, secrets_manager_store, sns_email_publisher
from propensity.alerting.digest import Digest, compose_digest, digest_slack_message, digest_text, digest_title
from propensity.alerting.digest_source import DigestSource, EmailPublisher
from propensity.alerting.links import AlertLinks
from propensity.alerting.retry import DeliveryError, Sleep
from propensity.alerting.secrets import SecretStore
from propensity.alerting.settings import DigestSettings
from propensity.alerting.slack import SlackNotifier
from propensity.observability import logger


def window_end(event: dict[str, Any] | None, now: datetime | None = None) -> datetime:
    """The end of the digest's window: the scheduled event's time, on the hour (UTC).

    On the hour, so the 24-hour statistics line up with CloudWatch's hourly boundaries and a
    late start does not shift the window.
    """
    moment = now or datetime.now(UTC)
    raw = event.get("time") if isinstance(event, dict) else None
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            logger.warning("scheduled event time unreadable; using now", extra={"time": raw})
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def deliver_digest(
    digest: Digest, *, slack: SlackNotifier, email: EmailPublisher | None, dashboard_url: str
) -> dict[str, Any]:
    """Post to Slack and publish the e-mail; both are attempted before a failure is raised."""
    failures: list[str] = []
    delivered: list[str] = []
    try:
        slack.post(digest_slack_message(digest, dashboard_url))
        delivered.append("slack")
    except DeliveryError as error:
        failures.append(f"slack: {error}")
    if email is not None:
        try:
            email.publish(digest_title(digest), digest_text(digest, dashboard_url))
            delivered.append("email")
        except Exception as error:  # botocore errors are built at run time
            failures.append(f"email: {error}")
    if failures:
        raise DeliveryError("digest not fully delivered: " + "; ".join(failures), attempts=1)
    return {"delivered": delivered}


def send_digest(
    event: dict[str, Any] | None,
    settings: DigestSettings,
    *,
    source: DigestSource | None = None,
    secrets: SecretStore | None = None,
    email: EmailPublisher | None = None,
    sleep: Sleep = time.sleep,
) -> dict[str, Any]:
    """The digest function: summarise the 24 hours before the scheduled time, deliver it."""
    source = source or cloudwatch_digest_source(settings.region)
    if email is None and settings.email_topic_arn:
        email = sns_email_publisher(settings.email_topic_arn, settings.region)
    store = secrets or secrets_manager_store(settings.region)
    slack = SlackNotifier(
        webhook_url=lambda: store.get(settings.webhook_secret),
        links=AlertLinks(settings.dashboard_url, settings.runbook_url),
        policy=settings.retry,
        sleep=sleep,
    )
    digest = compose_digest(settings.deployment, source, window_end(event))
    logger.info("digest composed", extra={"alarms": len(digest.alarms), "requests": digest.service.requests})
    result = deliver_digest(digest, slack=slack, email=email, dashboard_url=settings.dashboard_url)
    return {"window_end": digest.end.isoformat(), "alarms": len(digest.alarms), **result}

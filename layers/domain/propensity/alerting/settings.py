"""Notifier and digest configuration, read from the environment once at cold start.

Endpoint URLs can be overridden (tests point them at a stand-in server on 127.0.0.1);
secrets are referred to by name only and read from Secrets Manager.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError

from propensity.alerting.pagerduty import PAGERDUTY_EVENTS_URL
from propensity.alerting.retry import RetryPolicy
from propensity.alerting.signals import Deployment

_RETRY = RetryPolicy()


class ConfigurationError(RuntimeError):
    """The function's environment is incomplete or invalid (a deployment mistake)."""


class EnvSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Validate the environment (``os.environ`` by default) into settings."""
        try:
            return cls.model_validate(dict(os.environ if env is None else env))
        except ValidationError as error:
            missing = [str(e["loc"][0]) for e in error.errors()]
            raise ConfigurationError(
                f"{cls.__name__}: invalid or missing environment {missing}: {error}"
            ) from error


class AlertSettings(EnvSettings):
    """What every notifier needs."""

    dashboard_url: Annotated[str, Field(alias="DASHBOARD_URL", min_length=8)]
    runbook_url: Annotated[str, Field(alias="RUNBOOK_URL", min_length=8)]
    region: Annotated[str | None, Field(alias="AWS_REGION")] = None
    # The retry policy's defaults are the production policy; tests shorten the waits.
    http_timeout_s: Annotated[float, Field(alias="ALERT_HTTP_TIMEOUT_S", gt=0, le=30)] = _RETRY.timeout_s
    retry_attempts: Annotated[int, Field(alias="ALERT_RETRY_ATTEMPTS", ge=1, le=10)] = _RETRY.attempts
    retry_base_delay_s: Annotated[float, Field(alias="ALERT_RETRY_BASE_DELAY_S", ge=0)] = _RETRY.base_delay_s

    @property
    def retry(self) -> RetryPolicy:
        """The delivery policy; a shorter base delay shortens the cap in proportion."""
        scale = self.retry_base_delay_s / _RETRY.base_delay_s
        return _RETRY.model_copy(
            update={
                "timeout_s": self.http_timeout_s,
                "attempts": self.retry_attempts,
                "base_delay_s": self.retry_base_delay_s,
                "max_delay_s": _RETRY.max_delay_s * scale,
            }
        )


class PagerDutySettings(AlertSettings):
    routing_key_secret: Annotated[str, Field(alias="PAGERDUTY_ROUTING_KEY_SECRET", min_length=1)]
    events_url: Annotated[str, Field(alias="PAGERDUTY_EVENTS_URL")] = PAGERDUTY_EVENTS_URL
    source: Annotated[str, Field(alias="ALERT_SOURCE", min_length=1)] = "propensity"


class SlackSettings(AlertSettings):
    webhook_secret: Annotated[str, Field(alias="SLACK_WEBHOOK_SECRET", min_length=1)]


class DigestSettings(AlertSettings):
    """The digest: what deployment to summarise, where to post it."""

    deployment: Annotated[Json[Deployment], Field(alias="DIGEST_DEPLOYMENT")]
    webhook_secret: Annotated[str, Field(alias="SLACK_WEBHOOK_SECRET", min_length=1)]
    # SNS topic with the e-mail subscriptions (None: Slack only).
    email_topic_arn: Annotated[str | None, Field(alias="DIGEST_TOPIC_ARN")] = None

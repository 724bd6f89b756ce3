"""The daily digest (EventBridge schedule): the last 24 hours of alarms and figures, to Slack and e-mail."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.alerting.send_digest import send_digest
from propensity.alerting.settings import DigestSettings
from propensity.observability import logger, tracer

SETTINGS = DigestSettings.from_env()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return send_digest(event, SETTINGS)

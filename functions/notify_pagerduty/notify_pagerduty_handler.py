"""Critical alarms to PagerDuty: SNS (critical topic) -> Events API v2.

Trigger on ALARM, resolve on OK, dedup key = alarm ARN. Undeliverable alerts raise, so Lambda
retries the event and then sends it to the alert dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.alerting.notify import handle_alarm_event, pagerduty_notifier
from propensity.alerting.settings import PagerDutySettings
from propensity.observability import logger, metrics, tracer

SETTINGS = PagerDutySettings.from_env()
NOTIFIER = pagerduty_notifier(SETTINGS)


@logger.inject_lambda_context(clear_state=True)  # alarm keys must not leak into the next event
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_alarm_event(
        event,
        NOTIFIER.notify,
        channel="pagerduty",
        remaining_s=lambda: context.get_remaining_time_in_millis() / 1000,
    )

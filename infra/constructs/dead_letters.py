"""An alarm on a function's dead-letter queue: a failed event is waiting to be redriven."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from infra.constructs.alarms import AlarmSpec, Comparison, Missing
from infra.constructs.lambda_function import LambdaFunction
from propensity.alerting.tiers import Tier


def dead_letter_alarm_spec(
    function: LambdaFunction, *, key: str, anchor: str, what: str, tier: Tier = "warning"
) -> AlarmSpec:
    """``what`` failed after Lambda's retries and sits in the function's DLQ (one is enough)."""
    queue = function.dead_letter_queue
    if queue is None:
        raise ValueError(f"{key}: the function routes its failures elsewhere; alarm on that queue instead")
    return AlarmSpec(
        key=key,
        anchor=anchor,
        tier=tier,
        summary=f"{what} failed after Lambda's retries and waits in {function.dead_letter_queue_name} "
        "(redrive it)",
        metric=queue.metric_approximate_number_of_messages_visible(
            period=cdk.Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM, label="failed events queued"
        ),
        threshold=1,
        comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing=Missing.NOT_BREACHING,
    )

"""Weekly evaluation (EventBridge schedule): archived predictions joined with outcomes.

Re-evaluates the lookback windows, stores the results and the report in the archive bucket,
and publishes the figures the evaluation alarms watch. ``{"start": ..., "end": ...}`` re-runs
a given range by hand.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.boundary import parse_event
from propensity.evaluation.runtime import (
    EvaluationRequest,
    EvaluationSettings,
    run_requested,
    summary_response,
)
from propensity.observability import logger, tracer

SETTINGS = EvaluationSettings.from_env(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_event(EvaluationRequest.from_event, event, function="evaluate")
    return summary_response(run_requested(request, SETTINGS))

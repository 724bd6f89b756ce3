"""The hourly drift job (EventBridge schedule, or ``{"hours": [...], "force": true}`` for a backfill)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.boundary import parse_event
from propensity.drift.runtime import DriftRequest, DriftSettings, build_job, run_drift
from propensity.observability import logger, tracer

SETTINGS = DriftSettings.from_env(os.environ)
JOB = build_job(SETTINGS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    return run_drift(parse_event(DriftRequest.from_event, event, function="drift"), SETTINGS, JOB)

"""EventBridge -> this function: a CodeDeploy rollback (FAILURE/STOP), announced on the stage's tier topic."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.observability import logger, tracer
from propensity.promotion.deployment_notice import Boto3DeploymentLookup, notice_from_event

TOPIC_ARN = os.environ["NOTICE_TOPIC_ARN"]
TIER = os.environ.get("NOTICE_TIER", "warning")
RUNBOOK_URL = os.environ["RUNBOOK_URL"]
LOOKUP = Boto3DeploymentLookup()
SNS = boto3.client("sns")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notice = notice_from_event(event, LOOKUP)
    if notice is None:
        return {"published": False}
    message = notice.message(tier=TIER, runbook_url=RUNBOOK_URL)  # type: ignore[arg-type]
    SNS.publish(TopicArn=TOPIC_ARN, Subject=message["AlarmName"][:100], Message=json.dumps(message))
    logger.warning("deployment rolled back", extra={"notice": message["NewStateReason"]})
    return {"published": True, "deployment": notice.deployment_id}

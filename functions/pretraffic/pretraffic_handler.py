"""BeforeAllowTraffic hook: replay the bundle's golden requests against the new version.

CodeDeploy invokes it with the deployment id and the hook execution id; the verdict goes back
to CodeDeploy (propensity.deployment.hooks). The golden set ships next to this file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.boundary import codedeploy_hook_ids, parse_event
from propensity.bundle.golden import GoldenSet
from propensity.deployment.aws import aws_ports
from propensity.deployment.hooks import run_pre_traffic
from propensity.deployment.settings import HookSettings
from propensity.observability import logger, tracer

SETTINGS = HookSettings.from_env(os.environ)
GOLDEN = GoldenSet.model_validate_json(SETTINGS.golden_path(Path(__file__).parent).read_bytes())
DEPLOYMENTS, INVOKER = aws_ports()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment_id, hook_id = parse_event(codedeploy_hook_ids, event, function="pretraffic")
    report = run_pre_traffic(
        deployment_id,
        hook_id,
        settings=SETTINGS,
        golden=GOLDEN,
        deployments=DEPLOYMENTS,
        invoker=INVOKER,
    )
    return {"status": report.status, "checked": report.checked, "problems": report.problems[:20]}

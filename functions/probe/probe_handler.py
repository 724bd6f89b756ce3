"""Synthetic probe (EventBridge schedule, once a minute, two runs 30 s apart): /health,
/v1/predict and /v2/predict with golden requests.

Publishes ProbeSuccess / ProbeLatency metrics (the critical probe alarm watches them). The
golden sets of the deployed bundles ship next to this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.alerting.aws import secrets_manager_store
from propensity.observability import logger, metrics, tracer
from propensity.probe.cadence import probe_invocation
from propensity.probe.golden import load_golden_sets
from propensity.probe.settings import ProbeSettings

SETTINGS = ProbeSettings.from_env()
GOLDENS = load_golden_sets(SETTINGS.golden_path(Path(__file__).parent), SETTINGS.apis)
SECRETS = secrets_manager_store(SETTINGS.region)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reports = probe_invocation(
        SETTINGS, GOLDENS, SECRETS, remaining_s=lambda: context.get_remaining_time_in_millis() / 1000
    )
    return {
        "ok": bool(reports) and all(r.ok for r in reports),
        "runs": len(reports),
        "requests": sum(r.requests for r in reports),
        "failures": [f.model_dump(mode="json") for r in reports for f in r.failures()],
    }

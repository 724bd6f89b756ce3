"""Synthetic probe (EventBridge schedule): /health, /v1/predict and /v2/predict with golden requests.

Publishes ProbeSuccess / ProbeLatency metrics (the critical probe alarm watches them). The
golden sets of the deployed bundles ship next to this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.alerting.aws import secrets_manager_store
from propensity.observability import logger, metrics, tracer
from propensity.probe.golden import load_golden_sets
from propensity.probe.publish import probe_once
from propensity.probe.settings import ProbeSettings

SETTINGS = ProbeSettings.from_env()
GOLDENS = load_golden_sets(SETTINGS.golden_path(Path(__file__).parent), SETTINGS.apis)
SECRETS = secrets_manager_store(SETTINGS.region)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = probe_once(SETTINGS, GOLDENS, SECRETS)
    return {
        "ok": report.ok,
        "requests": report.requests,
        "failures": [f.model_dump(mode="json") for f in report.failures()],
    }

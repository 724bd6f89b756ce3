"""Shadow scoring of each new archive object (S3 ObjectCreated under ``predictions/``)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.boundary import parse_event
from propensity.observability import logger, tracer
from propensity.shadow.runtime import ShadowSettings, archive_keys, build_scorer, shadow_keys

SETTINGS = ShadowSettings.from_env(os.environ)
# Built once per execution environment: the loaded challengers survive warm invocations.
SCORER = build_scorer(SETTINGS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return shadow_keys(SCORER, parse_event(archive_keys, event, function="shadow"))

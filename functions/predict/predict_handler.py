"""Prediction function (API Gateway REST proxy): Mangum around the service's FastAPI app.

Settings are parsed and the bundle is loaded once per execution environment, at init; a
bundle that fails to load leaves the app answering 503 with the reason (see /health).
"""

from __future__ import annotations

import gc
from typing import Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from propensity.observability import logger, metrics, tracer
from propensity.service.app import create_app
from propensity.service.settings import ServiceSettings

SETTINGS = ServiceSettings.from_env()
# lifespan "off": the app has no startup work left (models load above), and Mangum would
# otherwise run the lifespan protocol on every invocation.
HANDLER = Mangum(create_app(SETTINGS), lifespan="off")
# Init objects (app, schemas, model arrays) live as long as the environment: move them out of
# the collector's reach, so full collections walk only what requests allocate (batch p90 tail).
gc.collect()
gc.freeze()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)  # a batch answer would overflow the segment
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Powertools' and Mangum's LambdaContext types describe the same runtime object.
    return dict(HANDLER(event, cast(Any, context)))

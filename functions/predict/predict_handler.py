"""Prediction function (API Gateway REST proxy): the service's routes, straight from the event.

Settings are parsed and the bundle is loaded once per execution environment, at init; a
bundle that fails to load leaves the function answering 503 with the reason (see /health).
The event goes to the routes without FastAPI or Mangum (``service.lambda_api``): the same
routes, errors and headers as the local server, at a fraction of the import and call cost.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

# No cyclic collections during the init: it allocates the objects that live as long as the
# environment (modules, classes, schemas, model arrays) and next to no garbage, and the
# collector's passes over them were about 28 M of the cold start's 1,100 M instructions
# (docs/performance.md). Whatever the init does, the collector is back on before a request.
gc.disable()
try:
    from propensity.lambda_log import api_gateway_request_id, logger
    from propensity.service.lambda_api import create_lambda_api
    from propensity.service.settings import ServiceSettings

    SETTINGS = ServiceSettings.from_env()
    HANDLER = create_lambda_api(SETTINGS)
finally:
    # Init objects live as long as the environment: move them out of the collector's reach, so
    # full collections walk only what requests allocate (batch p90 tail). No gc.collect() first:
    # the init leaves a few dozen unreachable objects, not worth a full collection of every init
    # object on the cold start (measured: docs/performance.md).
    gc.freeze()
    gc.enable()

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


# Logs: Powertools' JSON lines (Lambda context keys, correlation id = the API Gateway REST request
# id) written by propensity.lambda_log, without Powertools' import on the cold start.
# Metrics: each request writes its own EMF document (service.core.telemetry), so Powertools'
# log_metrics is not needed around the handler. No Tracer: the function calls nothing
# downstream, Lambda's active tracing records the invocation itself, and the X-Ray SDK's
# import was 170-300 ms of the cold start (docs/performance.md).
@logger.inject_lambda_context(correlation_id=api_gateway_request_id)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return HANDLER(event, context)

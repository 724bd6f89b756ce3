"""Outcome ingestion (S3 notification on ``labels/``): validate each dropped file row by row.

Good rows are stored under ``outcomes/accepted/``, bad rows with their reason under
``outcomes/rejects/``; a content already ingested is reported and not counted again.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from propensity.boundary import parse_event
from propensity.labels.runtime import (
    LabelSettings,
    ingest_keys,
    ingest_response,
    keys_from_s3_event,
    open_label_store,
)
from propensity.observability import logger, tracer

SETTINGS = LabelSettings.from_env(os.environ)
STORE = open_label_store(SETTINGS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    keys = parse_event(lambda e: keys_from_s3_event(e, SETTINGS), event, function="labels")
    return ingest_response(ingest_keys(STORE, keys))

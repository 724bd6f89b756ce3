"""v1 routes: ``POST /v1/predict``, exactly as CONTRACT-v1.md fixes it."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from propensity.constants import MAX_BODY_BYTES_SINGLE, MODEL_VERSION_HEADER
from propensity.service.core.errors import JSON_MEDIA_TYPE
from propensity.service.core.events import ScoredRecord, build_events, new_prediction_ids, phase_latency
from propensity.service.core.openapi import error_responses, json_request_body, response_doc, with_headers
from propensity.service.core.pipeline import Pipeline, elapsed_ms, request_info
from propensity.service.v1.adapter import FEATURE_NAMES, to_record
from propensity.service.v1.models import EXAMPLE_REQUEST, V1PredictResponse


def build_router(pipeline: Pipeline, headers_doc: dict[str, dict[str, Any]]) -> APIRouter:
    """The v1 router; ``headers_doc`` documents the deprecation headers on every response."""
    router = APIRouter(prefix="/v1", tags=["v1 (deprecated)"])
    responses = with_headers(
        {200: response_doc(V1PredictResponse, "The prediction"), **error_responses(400, 413, 415, 422, 503)},
        headers_doc,
    )

    @router.post(
        "/predict",
        summary="Score one customer (v1, deprecated: use /v2/predict)",
        response_model=None,
        responses=responses,
        deprecated=True,
        openapi_extra=json_request_body("V1PredictRequest", {"contract example": EXAMPLE_REQUEST}),
    )
    async def predict(request: Request) -> Response:
        info = request_info(request)
        with pipeline.observe("v1", info=info) as metrics:
            served = pipeline.model("v1")
            started = time.perf_counter()
            record = to_record(await pipeline.json_body(request, MAX_BODY_BYTES_SINGLE))
            metrics.phases_ms["validation"] = elapsed_ms(started)

            scored = pipeline.score(served, FEATURE_NAMES, [record])
            metrics.phases_ms["preprocessing"] = scored.preprocessing_ms
            metrics.phases_ms["inference"] = scored.inference_ms

            started = time.perf_counter()
            probability = float(scored.scores.probability[0])
            decision = "yes" if scored.scores.decision[0] else "no"
            confidence = str(scored.scores.confidence[0])
            body = json.dumps(
                {"prediction": decision, "probability": probability, "confidence": confidence},
                separators=(",", ":"),
            ).encode()
            metrics.phases_ms["serialization"] = elapsed_ms(started)

            metrics.scored([probability], [decision], [confidence])
            pipeline.events.emit(
                build_events(
                    [ScoredRecord(new_prediction_ids(1)[0], record, probability, decision, confidence, [])],
                    info=info,
                    api_version="v1",
                    model_version=served.version,
                    threshold=served.threshold,
                    latency=phase_latency(metrics.phases_ms),
                    batch_size=1,
                )
            )
            return Response(body, media_type=JSON_MEDIA_TYPE, headers={MODEL_VERSION_HEADER: served.version})

    return router

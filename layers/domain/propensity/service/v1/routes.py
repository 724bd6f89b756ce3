"""v1 routes: ``POST /v1/predict``, exactly as CONTRACT-v1.md fixes it."""

from __future__ import annotations

import time
from typing import Any

from propensity.constants import MAX_BODY_BYTES_SINGLE, MODEL_VERSION_HEADER
from propensity.service.core.events import ScoredRecord, event_lines, new_prediction_ids, shared_fields
from propensity.service.core.http import Answer, Incoming, Route, dumps
from propensity.service.core.openapi import error_responses, json_request_body, response_doc, with_headers
from propensity.service.core.pipeline import Pipeline, elapsed_ms
from propensity.service.v1.adapter import FEATURE_NAMES, to_record
from propensity.service.v1.models import EXAMPLE_REQUEST, V1PredictResponse


def routes(pipeline: Pipeline, headers_doc: dict[str, dict[str, Any]]) -> list[Route]:
    """The v1 route; ``headers_doc`` documents the deprecation headers on every response.

    The headers themselves are added by each front end to every answer under ``/v1``
    (``v1.deprecation``), errors and 404/405 included.
    """
    responses = with_headers(
        {200: response_doc(V1PredictResponse, "The prediction"), **error_responses(400, 413, 415, 422, 503)},
        headers_doc,
    )

    def predict(request: Incoming) -> Answer:
        info = pipeline.request_info(request)
        with pipeline.observe("v1", info=info) as metrics:
            served = pipeline.model("v1")
            started = time.perf_counter()
            record = to_record(pipeline.json_body(request, MAX_BODY_BYTES_SINGLE))
            metrics.phases_ms["validation"] = elapsed_ms(started)

            scored = pipeline.score(served, FEATURE_NAMES, [record])
            metrics.phases_ms["preprocessing"] = scored.preprocessing_ms
            metrics.phases_ms["inference"] = scored.inference_ms

            started = time.perf_counter()
            probability = float(scored.scores.probability[0])
            decision = "yes" if scored.scores.decision[0] else "no"
            confidence = str(scored.scores.confidence[0])
            body = dumps({"prediction": decision, "probability": probability, "confidence": confidence})
            metrics.phases_ms["serialization"] = elapsed_ms(started)

            metrics.scored([probability], [decision])
            pipeline.events.emit(
                event_lines(
                    [ScoredRecord(new_prediction_ids(1)[0], record, probability, decision, confidence, [])],
                    shared_fields(
                        info=info,
                        api_version="v1",
                        model_version=served.version,
                        threshold=served.threshold,
                        phases_ms=metrics.phases_ms,
                        batch_size=1,
                    ),
                )
            )
            return Answer(200, body, {MODEL_VERSION_HEADER: served.version})

    doc = {
        "summary": "Score one customer (v1, deprecated: use /v2/predict)",
        "tags": ["v1 (deprecated)"],
        "responses": responses,
        "deprecated": True,
        "openapi_extra": json_request_body("V1PredictRequest", {"contract example": EXAMPLE_REQUEST}),
    }
    return [Route("POST", "/v1/predict", "v1", MAX_BODY_BYTES_SINGLE, predict, doc)]

"""v2 routes: predict, batch, validate (no scoring) and translate (v1 body to v2 body)."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from propensity.constants import MAX_BATCH_RECORDS, MAX_BODY_BYTES_BATCH, MAX_BODY_BYTES_SINGLE
from propensity.features.translate import v1_to_v2
from propensity.service.core.errors import JSON_MEDIA_TYPE, RequestInvalidError
from propensity.service.core.events import ScoredRecord, build_events, new_prediction_ids, phase_latency
from propensity.service.core.openapi import error_responses, json_request_body, response_doc
from propensity.service.core.pipeline import Pipeline, elapsed_ms, request_info
from propensity.service.v1 import adapter as v1_adapter
from propensity.service.v1.models import EXAMPLE_REQUEST as V1_EXAMPLE
from propensity.service.v2.adapter import (
    FEATURE_NAMES,
    NormalisedRecord,
    RecordErrors,
    check_record,
    to_record,
)
from propensity.service.v2.models import (
    EXAMPLE_REQUEST,
    V2BatchRequest,
    V2BatchResponse,
    V2PredictRequest,
    V2PredictResponse,
    V2ValidateResponse,
)

_UNKNOWN_EXAMPLE = {
    **EXAMPLE_REQUEST,
    "customer": {**EXAMPLE_REQUEST["customer"], "job": "astronaut", "marital_status": "Married"},
}


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def build_router(pipeline: Pipeline) -> APIRouter:
    """The v2 router."""
    router = APIRouter(prefix="/v2", tags=["v2"])

    @router.post(
        "/predict",
        summary="Score one customer",
        response_model=None,
        responses={
            200: response_doc(V2PredictResponse, "The prediction"),
            **error_responses(400, 413, 415, 422, 503),
        },
        openapi_extra=json_request_body(
            "V2PredictRequest", {"customer": EXAMPLE_REQUEST, "unknown category": _UNKNOWN_EXAMPLE}
        ),
    )
    async def predict(request: Request) -> Response:
        info = request_info(request)
        with pipeline.observe("v2") as metrics:
            served = pipeline.model("v2")
            started = time.perf_counter()
            record = to_record(await pipeline.json_body(request, MAX_BODY_BYTES_SINGLE))
            metrics.phases_ms["validation"] = elapsed_ms(started)
            metrics.unknown_categories.update(record.unknown_fields)

            scored = pipeline.score(served, FEATURE_NAMES, [record.features])
            metrics.phases_ms["preprocessing"] = scored.preprocessing_ms
            metrics.phases_ms["inference"] = scored.inference_ms

            started = time.perf_counter()
            prediction_id = new_prediction_ids(1)[0]
            probability = float(scored.scores.probability[0])
            decision = "yes" if scored.scores.decision[0] else "no"
            confidence = str(scored.scores.confidence[0])
            body = _dumps(
                {
                    "prediction_id": prediction_id,
                    "model_version": served.version,
                    "probability": probability,
                    "decision": decision,
                    "threshold": served.threshold,
                    "confidence": confidence,
                    "warnings": record.warnings,
                }
            )
            metrics.phases_ms["serialization"] = elapsed_ms(started)

            metrics.scored([probability], [decision], [confidence])
            event = ScoredRecord(
                prediction_id,
                record.features,
                probability,
                decision,
                confidence,
                record.warnings,
                record.customer_ref,
            )
            pipeline.events.emit(
                build_events(
                    [event],
                    info=info,
                    api_version="v2",
                    model_version=served.version,
                    threshold=served.threshold,
                    latency=phase_latency(metrics.phases_ms),
                    batch_size=1,
                )
            )
            return Response(body, media_type=JSON_MEDIA_TYPE)

    @router.post(
        "/predict/batch",
        summary=f"Score 1 to {MAX_BATCH_RECORDS} customers; invalid records do not fail the batch",
        response_model=None,
        responses={
            200: response_doc(V2BatchResponse, "One result per record"),
            **error_responses(400, 413, 415, 422, 503),
        },
        openapi_extra=json_request_body(
            "V2BatchRequest", {"two customers": {"records": [EXAMPLE_REQUEST, _UNKNOWN_EXAMPLE]}}
        ),
    )
    async def predict_batch(request: Request) -> Response:
        info = request_info(request)
        with pipeline.observe("v2") as metrics:
            served = pipeline.model("v2")
            started = time.perf_counter()
            document = await pipeline.json_body(request, MAX_BODY_BYTES_BATCH)
            try:
                records: list[Any] = V2BatchRequest.model_validate(document).records
            except ValidationError as error:
                errors = error.errors(include_url=False)
                fields = ["records" if e["loc"][:1] == ("records",) else "body" for e in errors]
                raise RequestInvalidError(v1_adapter.detail_items(errors), fields) from None
            checked = [check_record(r, ("body", "records", i)) for i, r in enumerate(records)]
            valid = [(i, c) for i, c in enumerate(checked) if isinstance(c, NormalisedRecord)]
            metrics.batch_size = len(records)
            metrics.invalid_records = len(records) - len(valid)
            for c in checked:
                if isinstance(c, RecordErrors):
                    metrics.invalid(c.fields)
                elif c.unknown_fields:
                    metrics.unknown_categories.update(c.unknown_fields)
            metrics.phases_ms["validation"] = elapsed_ms(started)

            results: list[dict[str, Any] | None] = [None] * len(records)
            scored_records: list[ScoredRecord] = []
            if valid:
                scored = pipeline.score(served, FEATURE_NAMES, [c.features for _, c in valid])
                metrics.phases_ms["preprocessing"] = scored.preprocessing_ms
                metrics.phases_ms["inference"] = scored.inference_ms
                started = time.perf_counter()
                probabilities, decisions, bands = scored.probabilities(), scored.decisions(), scored.bands()
                ids = new_prediction_ids(len(valid))
                for k, (i, c) in enumerate(valid):
                    results[i] = {
                        "index": i,
                        "prediction_id": ids[k],
                        "probability": probabilities[k],
                        "decision": decisions[k],
                        "confidence": bands[k],
                        "warnings": c.warnings,
                    }
                    scored_records.append(
                        ScoredRecord(
                            ids[k],
                            c.features,
                            probabilities[k],
                            decisions[k],
                            bands[k],
                            c.warnings,
                            c.customer_ref,
                        )
                    )
                metrics.scored(probabilities, decisions, bands)
            else:
                started = time.perf_counter()
            for i, c in enumerate(checked):
                if isinstance(c, RecordErrors):
                    results[i] = {"index": i, "errors": c.items}
            body = _dumps(
                {
                    "model_version": served.version,
                    "threshold": served.threshold,
                    "count": len(records),
                    "scored": len(valid),
                    "failed": len(records) - len(valid),
                    "results": results,
                }
            )
            metrics.phases_ms["serialization"] = elapsed_ms(started)

            pipeline.events.emit(
                build_events(
                    scored_records,
                    info=info,
                    api_version="v2",
                    model_version=served.version,
                    threshold=served.threshold,
                    latency=phase_latency(metrics.phases_ms),
                    batch_size=len(records),
                )
            )
            return Response(body, media_type=JSON_MEDIA_TYPE)

    @router.post(
        "/validate",
        summary="Validate and normalise a v2 body without scoring it (test your migration)",
        response_model=None,
        responses={
            200: response_doc(V2ValidateResponse, "The body is valid: its normalised form and warnings"),
            **error_responses(400, 413, 415, 422),
        },
        openapi_extra=json_request_body(
            "V2PredictRequest", {"customer": EXAMPLE_REQUEST, "unknown category": _UNKNOWN_EXAMPLE}
        ),
    )
    async def validate(request: Request) -> Response:
        with pipeline.observe("v2", scoring=False):
            record = to_record(await pipeline.json_body(request, MAX_BODY_BYTES_SINGLE))
            return Response(
                _dumps(
                    {"normalised": record.payload, "features": record.features, "warnings": record.warnings}
                ),
                media_type=JSON_MEDIA_TYPE,
            )

    @router.post(
        "/translate",
        summary="Turn a v1 body into the equivalent v2 body",
        response_model=None,
        responses={
            200: response_doc(V2PredictRequest, "The v2 body (post it to /v2/predict)"),
            **error_responses(400, 413, 415, 422),
        },
        openapi_extra=json_request_body(
            v1_adapter.TRANSLATE_REQUEST,
            {"contract example": V1_EXAMPLE, "unknown category": {**V1_EXAMPLE, "job": "astronaut"}},
        ),
    )
    async def translate(request: Request) -> Response:
        with pipeline.observe("v2", scoring=False):
            document = await pipeline.json_body(request, MAX_BODY_BYTES_SINGLE)
            record, warnings = v1_adapter.to_translatable(document)
            # The body must stay a valid v2 request: warnings go in a header (RFC 7234 299).
            headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else None
            return Response(_dumps(v1_to_v2(record)), media_type=JSON_MEDIA_TYPE, headers=headers)

    return router

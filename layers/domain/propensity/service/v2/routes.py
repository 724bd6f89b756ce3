"""v2 routes: predict, batch, validate (no scoring) and translate (v1 body to v2 body)."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from propensity.constants import MAX_BATCH_RECORDS, MAX_BODY_BYTES_BATCH, MAX_BODY_BYTES_SINGLE
from propensity.experiments import serving as experiment_hook
from propensity.features.translate import v1_to_v2
from propensity.service.core.errors import JSON_MEDIA_TYPE, RequestInvalidError
from propensity.service.core.events import ScoredRecord, build_events, new_prediction_ids, phase_latency
from propensity.service.core.openapi import error_responses, json_request_body, response_doc
from propensity.service.core.pipeline import Pipeline, elapsed_ms, request_info
from propensity.service.core.runtime import ServingModel
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


def build_router(
    pipeline: Pipeline, experiments: experiment_hook.ExperimentServing | None = None
) -> APIRouter:
    """The v2 router (``experiments``: the running A/B experiment's hook, issue 17)."""
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
            # A/B experiment (issue 17): the customer's arm picks the model; warnings say a fallback.
            choice = experiment_hook.choose(experiments, served, record.customer_ref, info.request_id)
            served, warnings = choice.served, record.warnings + choice.warnings

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
                    "warnings": warnings,
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
                warnings,
                record.customer_ref,
            )
            events = build_events(
                [event],
                info=info,
                api_version="v2",
                model_version=served.version,
                threshold=served.threshold,
                latency=phase_latency(metrics.phases_ms),
                batch_size=1,
            )
            pipeline.events.emit(experiment_hook.tag(events, [choice]))
            return Response(body, media_type=JSON_MEDIA_TYPE, headers=experiment_hook.headers([choice]))

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
            # A/B experiment (issue 17): each record's arm picks its model; one scoring pass per model.
            choices = experiment_hook.choose_many(
                experiments, served, [c.customer_ref for _, c in valid], info.request_id
            )
            groups = experiment_hook.by_model(choices)
            group_records: list[tuple[ServingModel, list[ScoredRecord], list[experiment_hook.Choice]]] = []
            if valid:
                ids = new_prediction_ids(len(valid))
                metrics.phases_ms["preprocessing"] = metrics.phases_ms["inference"] = 0.0
                all_p: list[float] = []
                all_d: list[str] = []
                all_b: list[str] = []
                for model, positions in groups:
                    scored = pipeline.score(model, FEATURE_NAMES, [valid[k][1].features for k in positions])
                    metrics.phases_ms["preprocessing"] += scored.preprocessing_ms
                    metrics.phases_ms["inference"] += scored.inference_ms
                    probabilities, decisions, bands = (
                        scored.probabilities(),
                        scored.decisions(),
                        scored.bands(),
                    )
                    in_group: list[ScoredRecord] = []
                    for j, k in enumerate(positions):
                        i, c = valid[k]
                        choice = choices[k]
                        warnings = [*c.warnings, choice.warning] if choice.warning else c.warnings
                        result: dict[str, Any] = {
                            "index": i,
                            "prediction_id": ids[k],
                            "probability": probabilities[j],
                            "decision": decisions[j],
                            "confidence": bands[j],
                            "warnings": warnings,
                        }
                        if choice.arm is not None:
                            result |= {"model_version": model.version, "arm": choice.arm}
                        results[i] = result
                        in_group.append(
                            ScoredRecord(
                                ids[k],
                                c.features,
                                probabilities[j],
                                decisions[j],
                                bands[j],
                                warnings,
                                c.customer_ref,
                            )
                        )
                    group_records.append((model, in_group, [choices[k] for k in positions]))
                    all_p += probabilities
                    all_d += decisions
                    all_b += bands
                started = time.perf_counter()
                metrics.scored(all_p, all_d, all_b)
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

            for model, in_group, group_choices in group_records:
                events = build_events(
                    in_group,
                    info=info,
                    api_version="v2",
                    model_version=model.version,
                    threshold=model.threshold,
                    latency=phase_latency(metrics.phases_ms),
                    batch_size=len(records),
                )
                pipeline.events.emit(experiment_hook.tag(events, group_choices))
            return Response(body, media_type=JSON_MEDIA_TYPE, headers=experiment_hook.headers(choices))

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
        openapi_extra=json_request_body("V1PredictRequest", {"contract example": V1_EXAMPLE}),
    )
    async def translate(request: Request) -> Response:
        with pipeline.observe("v2", scoring=False):
            record = v1_adapter.to_record(await pipeline.json_body(request, MAX_BODY_BYTES_SINGLE))
            return Response(_dumps(v1_to_v2(record)), media_type=JSON_MEDIA_TYPE)

    return router

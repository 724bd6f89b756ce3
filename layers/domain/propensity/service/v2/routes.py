"""v2 routes: predict, batch, validate (no scoring) and translate (v1 body to v2 body)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from propensity.constants import MAX_BATCH_RECORDS, MAX_BODY_BYTES_BATCH, MAX_BODY_BYTES_SINGLE
from propensity.features.translate import v1_to_v2
from propensity.service.core.errors import RequestInvalidError
from propensity.service.core.events import (
    ScoredColumns,
    ScoredRecord,
    event_lines,
    new_prediction_ids,
    shared_fields,
)
from propensity.service.core.http import Answer, Incoming, Route, dumps, encode
from propensity.service.core.limits import parse_json
from propensity.service.core.openapi import error_responses, json_request_body, response_doc
from propensity.service.core.pipeline import Pipeline, elapsed_ms
from propensity.service.core.runtime import ServingModel
from propensity.service.v1 import adapter as v1_adapter
from propensity.service.v1.models import EXAMPLE_REQUEST as V1_EXAMPLE
from propensity.service.v2.adapter import FEATURE_NAMES, CheckedBatch, check_records, to_record, valid_batch
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


_TAGS = ["v2"]

if TYPE_CHECKING:
    from propensity.experiments.serving import Choice, ExperimentServing


@dataclass(frozen=True)
class _Group:
    """Valid records of a batch answered by one model under one arm (one group without an experiment)."""

    served: ServingModel
    positions: list[int]  # positions among the batch's valid records
    experiment: str | None = None
    arm: str | None = None


def _groups(served: ServingModel, count: int, choices: list[Choice] | None) -> list[_Group]:
    if choices is None or not choices or choices[0].arm is None:  # no experiment served
        return [_Group(served, list(range(count)))]
    groups: dict[tuple[str, str | None], _Group] = {}
    for k, choice in enumerate(choices):
        key = (choice.served.version, choice.arm)
        if key not in groups:
            groups[key] = _Group(choice.served, [], choice.experiment_id, choice.arm)
        groups[key].positions.append(k)
    return list(groups.values())


def _checked_in_general(body: bytes) -> CheckedBatch:
    """Any batch ``valid_batch`` declined: parsed strictly, the batch's shape checked, then
    each record on its own (an invalid record is an error in its result, not a failed batch)."""
    document = parse_json(body)
    try:
        records: list[Any] = V2BatchRequest.model_validate(document).records
    except ValidationError as error:
        errors = error.errors(include_url=False)
        fields = ["records" if e["loc"][:1] == ("records",) else "body" for e in errors]
        raise RequestInvalidError(v1_adapter.detail_items(errors), fields) from None
    return check_records(records)


def routes(pipeline: Pipeline, experiments: ExperimentServing | None = None) -> list[Route]:
    """The v2 routes; ``experiments``: the running A/B experiment's hook (issue 17), if any.

    Without an experiment nothing of the hook runs (not even its import: the registry client
    stays off the Lambda cold start of a deployment that serves none).
    """
    if experiments is not None:
        from propensity.experiments import serving as hook

    def predict(request: Incoming) -> Answer:
        info = pipeline.request_info(request)
        with pipeline.observe("v2") as metrics:
            served = pipeline.model("v2")
            started = time.perf_counter()
            record = to_record(pipeline.json_body(request, MAX_BODY_BYTES_SINGLE))
            metrics.phases_ms["validation"] = elapsed_ms(started)
            metrics.unknown_categories.update(record.unknown_fields)
            warnings, arm_headers = record.warnings, {}
            experiment = arm = None
            if experiments is not None:  # the customer's arm picks the model
                choice = hook.choose(experiments, served, record.customer_ref, info.request_id)
                served, experiment, arm = choice.served, choice.experiment_id, choice.arm
                warnings = record.warnings + choice.warnings
                arm_headers = hook.headers([choice])

            scored = pipeline.score(served, FEATURE_NAMES, [record.features])
            metrics.phases_ms["preprocessing"] = scored.preprocessing_ms
            metrics.phases_ms["inference"] = scored.inference_ms

            started = time.perf_counter()
            prediction_id = new_prediction_ids(1)[0]
            probability = float(scored.scores.probability[0])
            decision = "yes" if scored.scores.decision[0] else "no"
            confidence = str(scored.scores.confidence[0])
            body = dumps(
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

            metrics.scored([probability], [decision])
            event = ScoredRecord(
                prediction_id,
                record.features,
                probability,
                decision,
                confidence,
                warnings,
                record.customer_ref,
            )
            pipeline.events.emit(
                event_lines(
                    [event],
                    shared_fields(
                        info=info,
                        api_version="v2",
                        model_version=served.version,
                        threshold=served.threshold,
                        phases_ms=metrics.phases_ms,
                        batch_size=1,
                        experiment=experiment,
                        arm=arm,
                    ),
                )
            )
            return Answer(200, body, arm_headers)

    def predict_batch(request: Incoming) -> Answer:
        info = pipeline.request_info(request)
        with pipeline.observe("v2") as metrics:
            served = pipeline.model("v2")
            started = time.perf_counter()
            body = pipeline.json_bytes(request, MAX_BODY_BYTES_BATCH)
            checked = valid_batch(body) or _checked_in_general(body)
            valid = checked.indices
            count = len(valid) + len(checked.errors)
            metrics.batch_size = count
            metrics.invalid_records = len(checked.errors)
            for failed in checked.errors.values():
                metrics.invalid(failed.fields)
            metrics.unknown_categories.update(checked.unknown_fields)
            metrics.phases_ms["validation"] = elapsed_ms(started)

            results: list[str] = [""] * count  # each result's JSON text, in request order
            choices = None
            if experiments is not None and valid:  # each record's arm picks its model
                choices = hook.choose_many(experiments, served, checked.customer_refs, info.request_id)
            groups = _groups(served, len(valid), choices)
            scored_groups: list[tuple[_Group, ScoredColumns]] = []
            building_ms = 0.0  # the results' part of serialization, done group by group
            if valid:
                # msgspec writes a batch's JSON; imported on the first batch (cold start).
                from propensity.service.core.batch_json import result_texts

                ids = new_prediction_ids(len(valid))
                metrics.phases_ms["preprocessing"] = metrics.phases_ms["inference"] = 0.0
                for group in groups:  # one vectorised scoring pass per model
                    whole = len(groups) == 1
                    columns = (
                        checked.columns
                        if whole
                        else {n: [v[k] for k in group.positions] for n, v in checked.columns.items()}
                    )
                    scored = pipeline.score_columns(group.served, columns)
                    metrics.phases_ms["preprocessing"] += scored.preprocessing_ms
                    metrics.phases_ms["inference"] += scored.inference_ms
                    building = time.perf_counter()
                    probabilities, decisions, bands = (
                        scored.probabilities(),
                        scored.decisions(),
                        scored.bands(),
                    )
                    if whole and group.arm is None:
                        warnings = checked.warnings
                    else:
                        assert choices is not None
                        warnings = [checked.warnings[k] + choices[k].warnings for k in group.positions]
                    group_ids = ids if whole else [ids[k] for k in group.positions]
                    indices = valid if whole else [valid[k] for k in group.positions]
                    texts = result_texts(
                        indices,
                        group_ids,
                        probabilities,
                        decisions,
                        bands,
                        warnings,
                        # under an experiment each result names its model and arm
                        model_version=group.served.version if group.arm is not None else None,
                        arm=group.arm,
                    )
                    if whole and not checked.errors:
                        results = texts
                    else:
                        for i, text in zip(indices, texts, strict=True):
                            results[i] = text
                    refs = (
                        checked.customer_refs
                        if whole
                        else [checked.customer_refs[k] for k in group.positions]
                    )
                    scored_groups.append(
                        (
                            group,
                            ScoredColumns(
                                group_ids,
                                columns,
                                probabilities,
                                decisions,
                                bands,
                                warnings,
                                refs,
                            ),
                        )
                    )
                    metrics.scored(probabilities, decisions)
                    building_ms += elapsed_ms(building)
            started = time.perf_counter()
            for i, failed in checked.errors.items():
                results[i] = encode({"index": i, "errors": failed.items})
            head = {
                "model_version": served.version,
                "threshold": served.threshold,
                "count": count,
                "scored": len(valid),
                "failed": count - len(valid),
            }
            body = f'{encode(head)[:-1]},"results":[{",".join(results)}]}}'.encode()
            metrics.phases_ms["serialization"] = building_ms + elapsed_ms(started)

            for group, scored_records in scored_groups:
                shared = shared_fields(
                    info=info,
                    api_version="v2",
                    model_version=group.served.version,
                    threshold=group.served.threshold,
                    phases_ms=metrics.phases_ms,
                    batch_size=count,
                    experiment=group.experiment,
                    arm=group.arm,
                )
                pipeline.events.emit(scored_records.text(shared))
            return Answer(200, body, hook.headers(choices) if choices is not None else {})

    def validate(request: Incoming) -> Answer:
        with pipeline.observe("v2", scoring=False):
            record = to_record(pipeline.json_body(request, MAX_BODY_BYTES_SINGLE))
            return Answer(
                200,
                dumps(
                    {"normalised": record.payload, "features": record.features, "warnings": record.warnings}
                ),
            )

    def translate(request: Incoming) -> Answer:
        with pipeline.observe("v2", scoring=False):
            record, warnings = v1_adapter.to_translatable(pipeline.json_body(request, MAX_BODY_BYTES_SINGLE))
            # The body must stay a valid v2 request: warnings go in a header (RFC 7234 299).
            headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else {}
            return Answer(200, dumps(v1_to_v2(record)), headers)

    single_examples = {"customer": EXAMPLE_REQUEST, "unknown category": _UNKNOWN_EXAMPLE}
    return [
        Route("POST", "/v2/predict", "v2", MAX_BODY_BYTES_SINGLE, predict, {
            "summary": "Score one customer",
            "tags": _TAGS,
            "responses": {
                200: response_doc(V2PredictResponse, "The prediction"),
                **error_responses(400, 413, 415, 422, 503),
            },
            "openapi_extra": json_request_body("V2PredictRequest", single_examples),
        }),
        Route("POST", "/v2/predict/batch", "v2", MAX_BODY_BYTES_BATCH, predict_batch, {
            "summary": f"Score 1 to {MAX_BATCH_RECORDS} customers; invalid records do not fail the batch",
            "tags": _TAGS,
            "responses": {
                200: response_doc(V2BatchResponse, "One result per record"),
                **error_responses(400, 413, 415, 422, 503),
            },
            "openapi_extra": json_request_body(
                "V2BatchRequest", {"two customers": {"records": [EXAMPLE_REQUEST, _UNKNOWN_EXAMPLE]}}
            ),
        }),
        Route("POST", "/v2/validate", "v2", MAX_BODY_BYTES_SINGLE, validate, {
            "summary": "Validate and normalise a v2 body without scoring it (test your migration)",
            "tags": _TAGS,
            "responses": {
                200: response_doc(V2ValidateResponse, "The body is valid: its normalised form and warnings"),
                **error_responses(400, 413, 415, 422),
            },
            "openapi_extra": json_request_body("V2PredictRequest", single_examples),
        }),
        Route("POST", "/v2/translate", "v2", MAX_BODY_BYTES_SINGLE, translate, {
            "summary": "Turn a v1 body into the equivalent v2 body",
            "tags": _TAGS,
            "responses": {
                200: response_doc(V2PredictRequest, "The v2 body (post it to /v2/predict)"),
                **error_responses(400, 413, 415, 422),
            },
            "openapi_extra": json_request_body(
                v1_adapter.TRANSLATE_REQUEST,
                {"contract example": V1_EXAMPLE, "unknown category": {**V1_EXAMPLE, "job": "astronaut"}},
            ),
        }),
    ]  # fmt: skip

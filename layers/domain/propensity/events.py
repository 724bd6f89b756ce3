"""The PredictionEvent: one structured record per scored request row.

It is the only thing the archive, the drift job, the shadow scorer and the evaluation job
read, so it is defined once, here, and versioned (``schema_version``). Add optional fields
freely; renaming or removing one means a new schema version and readers for both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from propensity.constants import (
    EVENT_LOG_MARKER,
    EVENT_SCHEMA_VERSION,
    MAX_PREDICTION_ID_LENGTH,
    ApiVersion,
    ConfidenceBand,
    Decision,
    ExperimentArm,
)


class PhaseLatency(BaseModel):
    """Milliseconds spent in each phase of serving this request (shared by a batch's rows)."""

    model_config = ConfigDict(extra="forbid")

    validation_ms: Annotated[float, Field(ge=0)]
    preprocessing_ms: Annotated[float, Field(ge=0)]
    inference_ms: Annotated[float, Field(ge=0)]
    serialization_ms: Annotated[float, Field(ge=0)]


class PredictionEvent(BaseModel):
    """What was asked, what was answered, by which model, how fast."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    event: Annotated[str, Field(description="Marker for log subscription filters")] = EVENT_LOG_MARKER
    schema_version: int = EVENT_SCHEMA_VERSION
    prediction_id: Annotated[str, Field(min_length=1, max_length=MAX_PREDICTION_ID_LENGTH)]
    request_id: Annotated[str, Field(description="API Gateway request id (or local uuid)")]
    timestamp: datetime
    api_version: ApiVersion
    model_version: str
    consumer: Annotated[str | None, Field(description="API key id when present")] = None
    customer_ref: Annotated[str | None, Field(description="Consumer-side customer reference (v2)")] = None
    features: Annotated[dict[str, Any], Field(description="The flat record as the model saw it")]
    probability: Annotated[float, Field(ge=0, le=1)]
    decision: Decision
    threshold: Annotated[float, Field(gt=0, lt=1)]
    confidence: ConfidenceBand
    warnings: list[str] = Field(default_factory=list)
    batch_size: Annotated[int, Field(ge=1)] = 1
    latency: PhaseLatency
    synthetic: Annotated[
        bool, Field(description="Probe or deployment-hook traffic: kept out of drift, shadow, evaluation")
    ] = False
    experiment: Annotated[str | None, Field(description="Running A/B experiment id, if any")] = None
    arm: Annotated[ExperimentArm | None, Field(description="The experiment arm that answered")] = None

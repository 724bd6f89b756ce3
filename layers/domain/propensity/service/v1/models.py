"""v1 request and response models, built from ``features.domain.V1_SPEC`` (not re-listed here).

The contract fixes every field, its type and its allowed values or range; the request model
is strict (no ``"41"`` or ``true`` for an integer) and forbids unknown fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from propensity.constants import ConfidenceBand, Decision
from propensity.deferred import BUILT_ON_FIRST_USE
from propensity.features.domain import V1_SPEC
from propensity.features.spec import Feature

# The contract's own example (CONTRACT-v1.md).
EXAMPLE_REQUEST: Final[dict[str, Any]] = {
    "age": 41,
    "job": "technician",
    "marital": "married",
    "education": "secondary",
    "default": "no",
    "balance": 1270,
    "housing": "yes",
    "loan": "no",
    "contact": "cellular",
    "day": 5,
    "month": "may",
    "campaign": 1,
    "pdays": -1,
    "previous": 0,
    "poutcome": "unknown",
}


def _annotation(feature: Feature) -> Any:
    if feature.kind == "categorical":
        return Annotated[Literal[feature.categories], Field(description=feature.description)]  # type: ignore[valid-type]
    return Annotated[
        int, Field(ge=feature.minimum, le=feature.maximum, strict=True, description=feature.description)
    ]


# Built on its first validation (``defer_build``): the v1 function's first request, the v2
# function's first /v2/translate (the v2 function's cold start never needs it).
V1PredictRequest: type[BaseModel] = create_model(
    "V1PredictRequest",
    __config__=ConfigDict(
        defer_build=True,
        extra="forbid",
        strict=True,
        title="V1PredictRequest",
        json_schema_extra={"examples": [EXAMPLE_REQUEST]},
    ),
    __doc__="One customer, flat, every field required (CONTRACT-v1.md).",
    **{feature.name: (_annotation(feature), ...) for feature in V1_SPEC.features},
)  # type: ignore[call-overload]


class V1PredictResponse(BaseModel):
    """The contract's response."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"prediction": "yes", "probability": 0.73, "confidence": "high"}]},
        **BUILT_ON_FIRST_USE,
    )

    prediction: Annotated[
        Decision, Field(description="From the model's decision threshold (see the manifest)")
    ]
    probability: Annotated[float, Field(ge=0, le=1, description='Calibrated probability of "yes"')]
    confidence: Annotated[
        ConfidenceBand, Field(description="How far the probability lies from the threshold (docs/service.md)")
    ]

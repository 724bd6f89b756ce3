"""v2 request and response models, built from ``features.v2`` (``FIELD_MAP`` and ``SPEC``).

The request groups the fields (customer / finances / contact / history), uses booleans for
yes/no fields and ``null`` for "never contacted before". Categorical fields take any short
string: values outside the known set are scored with the model's unknown handling and
reported as warnings, so schema drift shows without breaking consumers.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from propensity.constants import MAX_BATCH_RECORDS, MAX_CUSTOMER_REF_LENGTH, ConfidenceBand, Decision
from propensity.deferred import BUILT_ON_FIRST_USE
from propensity.features import v2
from propensity.features.spec import Feature
from propensity.features.translate import v1_to_v2
from propensity.service.core.errors import ValidationErrorItem
from propensity.service.v1.models import EXAMPLE_REQUEST as V1_EXAMPLE

MAX_CATEGORY_LENGTH: Final[int] = 64
# Categorical values are compared without surrounding blanks; one that is only blanks is refused.
BLANKS: Final[str] = " \t\n\r"
NOT_ONLY_BLANKS: Final[str] = "[^ \\t\\n\\r]"

_STRICT = ConfigDict(extra="forbid", strict=True)

EXAMPLE_REQUEST: Final[dict[str, Any]] = {**v1_to_v2(V1_EXAMPLE), "customer_ref": "crm-000123"}


def _annotation(feature: Feature) -> Any:
    if feature.kind == "categorical":
        known = ", ".join(feature.categories)
        return Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_CATEGORY_LENGTH,
                pattern=NOT_ONLY_BLANKS,
                description=f"{feature.description}. Known: {known}. Case and surrounding spaces are "
                "ignored; other values are accepted, scored as unknown and reported in `warnings`.",
                examples=list(feature.categories[:3]),
            ),
        ]
    if feature.kind == "boolean":
        return Annotated[bool, Field(description=feature.description)]
    if feature.nullable:
        return Annotated[
            int | None, Field(ge=feature.minimum, le=feature.maximum, description=feature.description)
        ]
    return Annotated[int, Field(ge=feature.minimum, le=feature.maximum, description=feature.description)]


def _group_type(group: str) -> Any:
    """The TypedDict of one group (validated into plain dicts: no model objects to build and dump)."""
    name = f"V2{group.capitalize()}"
    fields = {m.v2_name: _annotation(v2.SPEC[m.flat_name]) for m in v2.FIELD_MAP if m.group == group}
    group_type: Any = TypedDict(name, fields)  # type: ignore[misc]  # fields come from FIELD_MAP
    setattr(group_type, "__pydantic_config__", ConfigDict(**_STRICT, title=name))  # noqa: B010
    return group_type


V2Customer = _group_type("customer")
V2Finances = _group_type("finances")
V2Contact = _group_type("contact")
V2History = _group_type("history")


class V2PredictRequest(TypedDict):
    """One customer, grouped. Every group and field is required; ``customer_ref`` is optional.

    A TypedDict rather than a model: a batch validates 1,000 of these, and plain dicts are
    about three times cheaper to validate than nested models are to validate and dump.
    """

    __pydantic_config__ = ConfigDict(  # type: ignore[misc]
        **_STRICT, title="V2PredictRequest", json_schema_extra={"examples": [EXAMPLE_REQUEST]}
    )

    customer: V2Customer  # type: ignore[valid-type]
    finances: V2Finances  # type: ignore[valid-type]
    contact: V2Contact  # type: ignore[valid-type]
    history: V2History  # type: ignore[valid-type]
    customer_ref: NotRequired[
        Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=MAX_CUSTOMER_REF_LENGTH,
                description="Your own reference for this customer; echoed into the prediction event",
            ),
        ]
    ]


V2_REQUEST: Final[TypeAdapter[V2PredictRequest]] = TypeAdapter(V2PredictRequest)
# A batch's records, validated in one pydantic-core call (the batch's own shape is checked first).
# Built on the first batch (``defer_build``): a cold start answering a single never needs it.
V2_RECORDS: Final[TypeAdapter[list[V2PredictRequest]]] = TypeAdapter(
    list[V2PredictRequest], config=ConfigDict(defer_build=True)
)


class V2PredictResponse(BaseModel):
    """A v2 prediction."""

    model_config = ConfigDict(protected_namespaces=(), **BUILT_ON_FIRST_USE)

    prediction_id: Annotated[str, Field(description="Quote it when reporting the outcome of this customer")]
    model_version: str
    probability: Annotated[float, Field(ge=0, le=1, description='Calibrated probability of "yes"')]
    decision: Annotated[Decision, Field(description="probability >= threshold")]
    threshold: Annotated[float, Field(gt=0, lt=1, description="The model's decision threshold")]
    confidence: Annotated[ConfidenceBand, Field(description="How far the probability is from the threshold")]
    warnings: Annotated[list[str], Field(description="E.g. unknown categories (scored as unknown)")]


class V2BatchRequest(BaseModel):
    """Up to 1,000 records; each is validated and scored on its own.

    Any item is accepted here: a bad record is a per-record error in the results, never a
    failed batch. The OpenAPI schema documents the items as ``V2PredictRequest`` (see
    ``document_batch_items``). Built on first use: only a batch the msgspec path declines
    (``adapter.valid_batch``) and the OpenAPI document need it.
    """

    model_config = ConfigDict(extra="forbid", strict=True, **BUILT_ON_FIRST_USE)

    records: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=MAX_BATCH_RECORDS,
            description="V2PredictRequest bodies; an invalid record is reported in its result, "
            "the others are still scored",
        ),
    ]


class V2BatchPrediction(BaseModel):
    """The result of a record that was scored."""

    model_config = BUILT_ON_FIRST_USE

    index: Annotated[int, Field(ge=0, description="Position of the record in `records`")]
    prediction_id: str
    probability: Annotated[float, Field(ge=0, le=1)]
    decision: Decision
    confidence: ConfidenceBand
    warnings: list[str]


class V2BatchError(BaseModel):
    """The result of a record that failed validation (the rest of the batch is unaffected)."""

    model_config = BUILT_ON_FIRST_USE

    index: Annotated[int, Field(ge=0)]
    errors: list[ValidationErrorItem]


class V2BatchResponse(BaseModel):
    """One result per record, in request order."""

    model_config = ConfigDict(protected_namespaces=(), **BUILT_ON_FIRST_USE)

    model_version: str
    threshold: float
    count: int
    scored: int
    failed: int
    results: list[V2BatchPrediction | V2BatchError]


class V2ValidateResponse(BaseModel):
    """What /v2/predict would score, without scoring it."""

    model_config = BUILT_ON_FIRST_USE

    normalised: Annotated[V2PredictRequest, Field(description="The request after normalisation")]
    features: Annotated[dict[str, Any], Field(description="The flat record the model sees")]
    warnings: list[str]


def document_batch_items(components: dict[str, Any]) -> None:
    """OpenAPI patch: batch items are V2PredictRequest bodies (anything else is a per-record error)."""
    components[V2BatchRequest.__name__]["properties"]["records"]["items"] = {
        "anyOf": [
            {"$ref": "#/components/schemas/V2PredictRequest"},
            {"description": "anything else is reported as an invalid record in the results"},
        ]
    }

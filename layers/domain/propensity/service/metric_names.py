"""Names and dimensions of the metrics the prediction service publishes (EMF).

The alarms and the dashboard read these; the service writes them (``core.telemetry``).
Every metric is published under three dimension sets:

- ``[service]`` (added by Powertools: the function name),
- ``[ApiVersion]`` (stable: what alarms and dashboards name at synth time),
- ``[ApiVersion, ModelVersion]`` (per model, e.g. to compare canary and stable versions).

Only the scoring routes publish (``/v2/validate`` and ``/v2/translate`` are consumers testing
their migration). Per-field metrics put the field in the metric name; fields come from the feature specs,
so the set of names is bounded (``VALIDATION_FIELDS``, ``CATEGORICAL_FIELDS``). The
consumer is a dimension of ``V1Calls`` only (its own blob, bounded by the stage's consumers).
"""

from __future__ import annotations

from typing import Final

from propensity.constants import ApiVersion
from propensity.features import v2
from propensity.features.domain import V1_SPEC

DIMENSION_API: Final[str] = "ApiVersion"
DIMENSION_MODEL: Final[str] = "ModelVersion"
# v1 calls per consumer (sunset planning), in a blob of its own with this one dimension: its
# values are the stage's consumer names (infra/config.py) and "unknown", so it stays bounded.
V1_CALLS: Final[str] = "V1Calls"
DIMENSION_CONSUMER: Final[str] = "Consumer"

# Milliseconds spent per serving phase, per request (a batch is one request).
PHASE_LATENCY: Final[dict[str, str]] = {
    "validation": "ValidationLatency",
    "preprocessing": "PreprocessingLatency",
    "inference": "InferenceLatency",
    "serialization": "SerializationLatency",
}
# Per scored record (a decision count of zero is not written: SUM over a period reads it as 0).
PREDICTIONS: Final[str] = "Predictions"
DECISION_COUNT: Final[dict[str, str]] = {"yes": "PredictionYes", "no": "PredictionNo"}
# Sum of the records' probabilities: mean probability = SUM(ProbabilitySum) / SUM(Predictions)
# (exact over any period; one value per request keeps EMF small for a batch of 1,000).
PROBABILITY_SUM: Final[str] = "ProbabilitySum"
# (RequestLatency and the per-band Confidence* counts were dropped in issue 14: no alarm or
# dashboard read them, and they were 4 of a single request's 12 metrics. The band is in the
# PredictionEvent.)
BATCH_SIZE: Final[str] = "BatchSize"  # records per batch request (v2 batch only)

# The first request of an execution environment.
COLD_START: Final[str] = "ColdStart"

# Requests refused before validation (bad JSON, too large, wrong content type, no model).
REJECTED_REQUESTS: Final[str] = "RejectedRequests"
REJECTION_REASONS: Final[tuple[str, ...]] = (
    "malformed_json",
    "payload_too_large",
    "unsupported_media_type",
    "model_unavailable",
)

# HTTP 5xx this service answered (an unexpected failure, or no model loaded). The app turns its
# failures into responses, so Lambda's Errors metric never sees them: the canary's rollback
# alarm (infra/constructs/prediction.py) watches this count per ModelVersion.
SERVER_ERRORS: Final[str] = "ServerErrors"

# Validation: one count per offending field (a 422, or a failed record of a batch).
VALIDATION_ERRORS: Final[str] = "ValidationErrors"
INVALID_RECORDS: Final[str] = "InvalidRecords"
# Fields outside the spec (an unexpected property) and a body that is not an object.
UNEXPECTED_FIELD: Final[str] = "unexpected_field"
WHOLE_BODY: Final[str] = "body"

# v2 only: categorical values outside the known set, scored with the unknown handling.
UNKNOWN_CATEGORIES: Final[str] = "UnknownCategories"

VALIDATION_FIELDS: Final[dict[ApiVersion, tuple[str, ...]]] = {
    "v1": (*V1_SPEC.names, UNEXPECTED_FIELD, WHOLE_BODY),
    # /v2/translate validates v1 bodies, so v1's field names can appear under v2 too.
    "v2": tuple(
        dict.fromkeys(
            (
                *v2.SPEC.names,
                *v2.GROUPS,
                "customer_ref",
                "records",
                *V1_SPEC.names,
                UNEXPECTED_FIELD,
                WHOLE_BODY,
            )
        )
    ),
}
CATEGORICAL_FIELDS: Final[tuple[str, ...]] = v2.CATEGORICAL


def rejected_metric(reason: str) -> str:
    """``Rejected_<reason>`` (reasons are ``REJECTION_REASONS``)."""
    return f"Rejected_{reason}"


def validation_error_metric(field: str) -> str:
    """``ValidationError_<field>`` (fields are ``VALIDATION_FIELDS``)."""
    return f"ValidationError_{field}"


def unknown_category_metric(field: str) -> str:
    """``UnknownCategory_<field>`` (fields are ``CATEGORICAL_FIELDS``: flat v2 names)."""
    return f"UnknownCategory_{field}"

"""Typed domain exceptions and their HTTP answers (no web framework: both front ends use them).

Every error the service answers is a JSON body with a ``detail``: a message (400, 404, 405,
413, 415, 500, 503) or, for validation, FastAPI's list of ``{"loc", "msg", "type"}`` items
(422). Nothing internal (stack traces, exception text) ever reaches a response body; the
front ends' catch-all logs the trace and answers ``INTERNAL_ERROR``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final

from pydantic import BaseModel, Field

from propensity.constants import ApiVersion
from propensity.deferred import BUILT_ON_FIRST_USE
from propensity.service.core.http import Answer, json_answer

# Response shapes (documented in the OpenAPI schema) ----------------------------------------
# Answers are written from dicts: the response models document them (/docs) and let clients
# (the probe, tests) validate them, so they are built on that first use (``BUILT_ON_FIRST_USE``).


class ErrorResponse(BaseModel):
    """Every non-validation error: a human-readable message."""

    model_config = BUILT_ON_FIRST_USE

    detail: Annotated[str, Field(description="What went wrong and how to fix the request")]


class ValidationErrorItem(BaseModel):
    """One offending field, in FastAPI's shape."""

    model_config = BUILT_ON_FIRST_USE

    loc: Annotated[list[str | int], Field(description='Where: ["body", <field>, ...]')]
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    """HTTP 422: every offending field, one item each."""

    model_config = BUILT_ON_FIRST_USE

    detail: list[ValidationErrorItem]


# Domain exceptions ---------------------------------------------------------------------------


class ServiceError(Exception):
    """Base of every error the service answers on purpose."""

    status_code = 500
    # Bounded label for the rejection metric (never user input).
    reason = "internal"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class MalformedRequestError(ServiceError):
    """The body is not usable JSON: empty, not UTF-8, bad syntax, NaN/Infinity, too deep."""

    status_code = 400
    reason = "malformed_json"


class PayloadTooLargeError(ServiceError):
    status_code = 413
    reason = "payload_too_large"


class UnsupportedMediaTypeError(ServiceError):
    status_code = 415
    reason = "unsupported_media_type"


class ModelUnavailableError(ServiceError):
    """The model of this API version failed to load; the reason is safe to show (a config issue)."""

    status_code = 503
    reason = "model_unavailable"


class RequestInvalidError(ServiceError):
    """The body parsed but does not satisfy the request schema (HTTP 422)."""

    status_code = 422
    reason = "validation"

    def __init__(self, errors: Sequence[dict[str, Any]], fields: Sequence[str] = ()) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = list(errors)
        # Offending fields as bounded metric labels (see service.metric_names.VALIDATION_FIELDS).
        self.fields = list(fields)


# HTTP mapping --------------------------------------------------------------------------------


def error_answer(error: ServiceError) -> Answer:
    """The HTTP answer for a domain exception."""
    if isinstance(error, RequestInvalidError):
        return json_answer({"detail": error.errors}, error.status_code, error.headers)
    return json_answer({"detail": error.message}, error.status_code, error.headers)


INTERNAL_ERROR: Final[Answer] = json_answer({"detail": "internal error; the failure has been logged"}, 500)


def not_found(method: str, path: str) -> Answer:
    return json_answer({"detail": f"no such endpoint: {method} {path}; see /docs for the API"}, 404)


def not_allowed(method: str, path: str) -> Answer:
    return json_answer({"detail": f"{method} is not allowed on {path}; see /docs for the API"}, 405)


def validation_items(
    errors: Sequence[Any], prefix: tuple[str | int, ...] = ("body",)
) -> list[dict[str, Any]]:
    """pydantic errors as FastAPI's ``detail`` items, located under ``prefix``."""
    return [{"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]} for error in errors]


def api_version_of(path: str) -> ApiVersion | None:
    """The API version a path belongs to (``/v1/...`` -> ``"v1"``), for metrics and headers."""
    if path.startswith("/v1/") or path == "/v1":
        return "v1"
    if path.startswith("/v2/") or path == "/v2":
        return "v2"
    return None

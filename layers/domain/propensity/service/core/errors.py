"""Typed domain exceptions and their HTTP mapping, registered once on the application.

Every error the service answers is a JSON body with a ``detail``: a message (400, 404, 405,
413, 415, 500, 503) or, for validation, FastAPI's list of ``{"loc", "msg", "type"}`` items
(422). Nothing internal (stack traces, exception reprs) ever reaches a response body; the
catch-all logs the trace and answers a plain 500.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from propensity.constants import ApiVersion
from propensity.observability import logger

JSON_MEDIA_TYPE = "application/json"


# Response shapes (documented in the OpenAPI schema) ----------------------------------------


class ErrorResponse(BaseModel):
    """Every non-validation error: a human-readable message."""

    detail: Annotated[str, Field(description="What went wrong and how to fix the request")]


class ValidationErrorItem(BaseModel):
    """One offending field, in FastAPI's shape."""

    loc: Annotated[list[str | int], Field(description='Where: ["body", <field>, ...]')]
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    """HTTP 422: every offending field, one item each."""

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


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response without FastAPI's encoder (bodies here are plain JSON types already)."""
    return Response(
        json.dumps(body, separators=(",", ":"), allow_nan=False).encode(),
        status_code=status_code,
        headers=headers,
        media_type=JSON_MEDIA_TYPE,
    )


def error_response(error: ServiceError) -> Response:
    """The HTTP answer for a domain exception."""
    if isinstance(error, RequestInvalidError):
        return json_response({"detail": error.errors}, error.status_code, error.headers)
    return json_response({"detail": error.message}, error.status_code, error.headers)


def validation_items(
    errors: Sequence[Any], prefix: tuple[str | int, ...] = ("body",)
) -> list[dict[str, Any]]:
    """pydantic errors as FastAPI's ``detail`` items, located under ``prefix``."""
    return [{"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]} for error in errors]


async def _service_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    return error_response(error)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}; see /docs for the API"
    elif error.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs for the API"
    else:
        message = str(error.detail)
    return json_response({"detail": message}, error.status_code, dict(error.headers or {}))


async def _fastapi_validation_error(_request: Request, error: Exception) -> Response:
    # Only routes with declared parameters raise this (the prediction routes parse bodies themselves).
    assert isinstance(error, RequestValidationError)
    items = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    return json_response({"detail": items}, 422)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping from exceptions to HTTP answers (call once per app)."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _fastapi_validation_error)
    app.add_middleware(CatchAll)


class CatchAll:
    """Last line of defence: an unexpected exception becomes a logged, trace-free JSON 500.

    It sits inside the header middlewares, so a 500 on ``/v1`` still carries the deprecation
    headers (Starlette's own handler for ``Exception`` runs outside every middleware).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error", extra={"path": scope.get("path")})
            if started:  # too late for a clean answer; let the server close the connection
                raise
            response = json_response({"detail": "internal error; the failure has been logged"}, 500)
            await response(scope, receive, send)


def api_version_of(path: str) -> ApiVersion | None:
    """The API version a path belongs to (``/v1/...`` -> ``"v1"``), for metrics and headers."""
    if path.startswith("/v1/") or path == "/v1":
        return "v1"
    if path.startswith("/v2/") or path == "/v2":
        return "v2"
    return None

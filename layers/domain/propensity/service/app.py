"""``create_app``: the service's routes (``service.api``) as a FastAPI application.

The local server runs it under uvicorn with both API versions; it adds the documentation
(``/docs``, ``/openapi.json``). The Lambda function answers API Gateway events with the same
routes without FastAPI (``service.lambda_api``), and builds this app only for the docs pages.
Models are loaded once, when the app is created.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from propensity import __version__
from propensity.observability import logger
from propensity.service.api import HealthResponse, answer, build_service
from propensity.service.core.errors import INTERNAL_ERROR, not_allowed, not_found
from propensity.service.core.http import JSON_MEDIA_TYPE, Answer, Incoming, Route, dumps, utc_now
from propensity.service.core.openapi import ERROR_MODELS, SchemaPatch, install_openapi
from propensity.service.core.runtime import ModelRuntime
from propensity.service.settings import ServiceSettings
from propensity.service.v1 import adapter as v1_adapter
from propensity.service.v1 import deprecation
from propensity.service.v1.models import V1PredictRequest, V1PredictResponse
from propensity.service.v2.models import (
    V2BatchRequest,
    V2BatchResponse,
    V2PredictRequest,
    V2PredictResponse,
    V2ValidateResponse,
    document_batch_items,
)

DESCRIPTION = """\
Propensity of a bank customer to subscribe a term deposit (UCI Bank Marketing).

* **v1** (deprecated): the flat contract consumers use today; every response carries
  `Deprecation`, `Sunset`, `Link` and `X-API-Deprecation` headers.
* **v2**: grouped fields, booleans, `null` for "never contacted", unknown categories
  accepted with a warning, a prediction id, batches, a validator and a v1-to-v2 translator.

Errors are JSON with a `detail`; 422 names each offending field. See MIGRATION.md.
"""


def create_app(
    settings: ServiceSettings,
    runtime: ModelRuntime | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The application for ``settings`` (loads the bundles unless a ``runtime`` is given;
    ``clock`` stamps the requests, see ``build_service``)."""
    service = build_service(settings, runtime, clock)
    app = FastAPI(
        title="Propensity API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.runtime = service.runtime
    for route in service.routes:
        app.add_api_route(
            route.path, _endpoint(route), methods=[route.method], response_model=None, **route.doc
        )

    request_types: list[Any] = []
    response_types: list[Any] = [HealthResponse, *ERROR_MODELS]
    patches: list[SchemaPatch] = []
    if "v2" in settings.api_versions:
        request_types += [V2PredictRequest, V2BatchRequest, V1PredictRequest]
        response_types += [V2PredictResponse, V2BatchResponse, V2ValidateResponse]
        patches += [document_batch_items, v1_adapter.document_translate_request]
    install_error_handlers(app)  # the catch-all sits inside the deprecation headers
    if service.v1_headers is not None:
        app.add_middleware(deprecation.DeprecationHeaders, headers=service.v1_headers)
        request_types.append(V1PredictRequest)
        response_types.append(V1PredictResponse)
    install_openapi(app, request_types, response_types, patches)
    return app


def response(result: Answer) -> Response:
    return Response(
        result.body, status_code=result.status, headers=dict(result.headers), media_type=JSON_MEDIA_TYPE
    )


def _endpoint(route: Route) -> Any:
    async def endpoint(request: Request) -> Response:
        return response(answer(route, await incoming_from_request(request, route.body_limit)))

    endpoint.__name__ = route.handle.__name__
    return endpoint


async def incoming_from_request(request: Request, limit: int) -> Incoming:
    """The request for a route: at most ``limit + 1`` bytes of body are read (more is a 413)."""
    chunks: list[bytes] = []
    size = 0
    truncated = False
    if limit > 0 or request.method not in ("GET", "HEAD"):
        async for chunk in request.stream():
            size += len(chunk)
            chunks.append(chunk)
            if size > limit:  # stop reading: the route answers 413
                truncated = True
                break
    request_id, consumer = _api_gateway_identity(request.scope.get("aws.event"))
    return Incoming(
        method=request.method,
        path=request.url.path,
        headers={name: value for name, value in request.headers.items()},
        body=chunks[0] if len(chunks) == 1 else b"".join(chunks),
        truncated=truncated,
        request_id=request_id,
        consumer=consumer,
    )


def _api_gateway_identity(event: Any) -> tuple[str | None, str | None]:
    # Under Mangum (the documentation pages on Lambda, and tests): API Gateway's ids.
    context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(context, dict):
        return None, None
    identity = context.get("identity")
    key = identity.get("apiKeyId") if isinstance(identity, dict) else None
    request_id = context.get("requestId")
    return (
        request_id if isinstance(request_id, str) else None,
        key if isinstance(key, str) and key else None,
    )


# Errors that FastAPI itself raises (unknown paths, methods) and the catch-all ------------------


def _send(result: Answer) -> Response:
    return response(result)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404:
        return _send(not_found(request.method, request.url.path))
    if error.status_code == 405:
        return _send(not_allowed(request.method, request.url.path))
    return Response(
        dumps({"detail": str(error.detail)}),
        status_code=error.status_code,
        headers=dict(error.headers or {}),
        media_type=JSON_MEDIA_TYPE,
    )


async def _fastapi_validation_error(_request: Request, error: Exception) -> Response:
    # Only routes with declared parameters raise this (the service's routes read bodies themselves).
    assert isinstance(error, RequestValidationError)
    items = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    return Response(dumps({"detail": items}), status_code=422, media_type=JSON_MEDIA_TYPE)


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping from FastAPI's own exceptions to the service's answers (once per app)."""
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
            await response(INTERNAL_ERROR)(scope, receive, send)

"""The Lambda front end: API Gateway REST proxy events straight to the service's routes.

No FastAPI, Starlette or Mangum on this path (their import was about 0.7 s of a 1.6 s cold
start, and their per-request work several times the model's). The routes, their errors and
v1's deprecation headers are the ones the local server runs (``service.api``); only the
documentation pages (``/docs``, ``/openapi.json``) are handed to the FastAPI app, built on
their first request.

Whatever arrives is answered, never raised: an event that is not an HTTP request (empty, an
EventBridge event, a list), a missing ``requestContext`` or ``identity: null``, a body marked
base64 that is not, a body that is not a string. Messages are the service's own, never an
exception's text.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from typing import Any, Final

from propensity.lambda_log import logger
from propensity.service.api import Service, answer, build_service
from propensity.service.core.errors import INTERNAL_ERROR, not_allowed, not_found
from propensity.service.core.http import JSON_MEDIA_TYPE, Answer, Incoming, Route, json_answer
from propensity.service.settings import ServiceSettings
from propensity.service.v1 import deprecation

LambdaResponse = dict[str, Any]
# Served by the FastAPI app (documentation only): imported on first use.
DOCUMENTATION_PATHS: Final[frozenset[str]] = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json"})
NOT_HTTP: Final[str] = "this function answers API Gateway REST proxy events (HTTP requests) only"


class LambdaApi:
    """Callable ``(event, context) -> API Gateway proxy response`` over a ``Service``."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._routes: dict[tuple[str, str], Route] = {(r.method, r.path): r for r in service.routes}
        self._paths = frozenset(r.path for r in service.routes)
        self._docs: Any = None

    def __call__(self, event: Any, context: Any = None) -> LambdaResponse:
        request = incoming_from_event(event)
        if request is None:
            logger.warning(
                "not an HTTP event", extra={"event_type": type(event).__name__, "keys": _keys(event)}
            )
            return proxy_response(json_answer({"detail": NOT_HTTP}, 400))
        if request.path in DOCUMENTATION_PATHS and request.path not in self._paths:
            return self._documentation(event, context)
        return proxy_response(self.dispatch(request))

    def dispatch(self, request: Incoming) -> Answer:
        """The route's answer (404/405 for unknown ones), with v1's headers under ``/v1``."""
        route = self._routes.get((request.method, request.path))
        try:
            if route is not None:
                result = answer(route, request)
            elif request.path in self._paths:
                result = not_allowed(request.method, request.path)
            else:
                result = not_found(request.method, request.path)
        except Exception:
            logger.exception("unhandled error", extra={"path": request.path})
            result = INTERNAL_ERROR
        if self.service.v1_headers is not None and deprecation.applies_to(request.path):
            result = Answer(result.status, result.body, {**result.headers, **self.service.v1_headers})
        return result

    def _documentation(self, event: dict[str, Any], context: Any) -> LambdaResponse:
        if self._docs is None:
            from mangum import Mangum

            from propensity.service.app import create_app

            self._docs = Mangum(create_app(self.service.settings, self.service.runtime), lifespan="off")
        response: LambdaResponse = self._docs(event, context)
        return response


def create_lambda_api(settings: ServiceSettings) -> LambdaApi:
    """Load the models and build the routes for ``settings`` (once per execution environment)."""
    return LambdaApi(build_service(settings))


def _keys(event: Any) -> list[str]:
    # Key names only (bounded, never values), to tell what was sent by mistake.
    return sorted(str(k)[:40] for k in event)[:20] if isinstance(event, dict) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def incoming_from_event(event: Any) -> Incoming | None:
    """The request in an API Gateway REST proxy event (payload 1.0), or ``None`` when it is none."""
    if not isinstance(event, dict):
        return None
    method, path = _text(event.get("httpMethod")), _text(event.get("path"))
    if not method or not path:
        return None
    headers = _headers(event)
    body, error = _body(event.get("body"), event.get("isBase64Encoded"))
    context = event.get("requestContext")
    context = context if isinstance(context, dict) else {}
    identity = context.get("identity")
    identity = identity if isinstance(identity, dict) else {}
    return Incoming(
        method=method.upper(),
        path=path,
        headers=headers,
        body=body,
        body_error=error,
        request_id=_text(context.get("requestId")) or str(uuid.uuid4()),
        consumer=_text(identity.get("apiKeyId")) or None,
    )


def _headers(event: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    multi = event.get("multiValueHeaders")
    if isinstance(multi, Mapping):
        for name, values in multi.items():
            if isinstance(name, str) and isinstance(values, list) and values:
                headers[name.lower()] = ", ".join(str(v) for v in values)
    single = event.get("headers")
    if isinstance(single, Mapping):
        for name, value in single.items():
            if isinstance(name, str) and isinstance(value, str):
                headers[name.lower()] = value
    return headers


def _body(raw: Any, is_base64: Any) -> tuple[bytes, str | None]:
    if raw is None:
        return b"", None
    if not isinstance(raw, str):
        return b"", "the request body must be text (a JSON document)"
    if is_base64 is True:
        try:
            return base64.b64decode(raw, validate=True), None
        except (binascii.Error, ValueError):
            return b"", "the request body is marked base64-encoded but is not valid base64"
    try:
        return raw.encode(), None
    except UnicodeEncodeError:  # a lone surrogate cannot be sent by HTTP, only by a hand-made event
        return b"", "request body is not valid UTF-8 text"


def proxy_response(result: Answer) -> LambdaResponse:
    """An API Gateway proxy response, shaped as Mangum shaped them (lower-case header names)."""
    headers = {name.lower(): value for name, value in result.headers.items()}
    headers["content-type"] = JSON_MEDIA_TYPE
    headers["content-length"] = str(len(result.body))
    return {
        "statusCode": result.status,
        "headers": headers,
        "multiValueHeaders": {},
        "body": result.body.decode(),
        "isBase64Encoded": False,
    }

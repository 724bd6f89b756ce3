"""Requests and answers as plain data, so one implementation of every route serves two front ends.

The Lambda function calls the routes straight from the API Gateway event
(``service.lambda_api``); the local server runs them under FastAPI (``service.app``). Neither
the routes nor this module import a web framework: FastAPI and Starlette cost about 0.7 s of
a cold start, and a prediction needs neither.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from propensity.constants import SYNTHETIC_HEADER, ApiVersion

if TYPE_CHECKING:
    from propensity.service.core.consumers import ConsumerDirectory

JSON_MEDIA_TYPE: Final[str] = "application/json"
_SYNTHETIC: Final[str] = SYNTHETIC_HEADER.lower()
_NOT_SYNTHETIC: Final[frozenset[str]] = frozenset({"", "0", "false", "no"})


@dataclass(frozen=True)
class Incoming:
    """One HTTP request, as every front end hands it to a route.

    ``body`` holds at most the route's limit plus one byte (``truncated``: more was sent);
    ``body_error`` says why a body could not be read at all (e.g. invalid base64), answered
    as a 400 by the route, inside its metrics.
    """

    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""
    truncated: bool = False
    body_error: str | None = None
    request_id: str | None = None  # API Gateway's request id
    consumer: str | None = None  # API Gateway's API key id


@dataclass(frozen=True)
class RequestInfo:
    """Who asked, under which request id (API Gateway's, or a local uuid), and whether a probe did."""

    request_id: str
    consumer: str | None  # the consumer's name (``ConsumerDirectory``), never the key
    received_at: datetime
    synthetic: bool = False


def utc_now() -> datetime:
    """The real clock: every deployed function stamps requests with it."""
    return datetime.now(UTC)


def request_info(
    incoming: Incoming,
    consumers: ConsumerDirectory | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RequestInfo:
    """Request id from API Gateway or a local stand-in, the consumer's name from ``consumers``
    (none without a directory), the synthetic flag from its header, the time from ``clock``
    (the local server's replay clock may run in the past; see ``service.server``)."""
    request_id = incoming.request_id or incoming.headers.get("x-request-id") or str(uuid.uuid4())
    synthetic = incoming.headers.get(_SYNTHETIC, "").strip().lower() not in _NOT_SYNTHETIC
    consumer = consumers.identify(incoming) if consumers is not None else None
    return RequestInfo(request_id, consumer, clock(), synthetic)


@dataclass(frozen=True)
class Answer:
    """One HTTP response: status, body bytes and extra headers (the content type is JSON)."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


# Compact JSON text; NaN or Infinity is a bug here, never an answer (ValueError).
encode: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def dumps(body: Any) -> bytes:
    """Compact JSON bytes; NaN or Infinity is a bug here, never an answer."""
    return encode(body).encode()


def json_answer(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Answer:
    return Answer(status, dumps(body), headers or {})


RouteHandler = Callable[[Incoming], Answer]


@dataclass(frozen=True)
class Route:
    """A route both front ends serve: method, path, body limit, the handler and its OpenAPI text.

    ``doc`` holds FastAPI ``add_api_route`` keyword arguments (summary, responses,
    ``openapi_extra``, ...): documentation only, read by the local server's schema.
    """

    method: str
    path: str
    api_version: ApiVersion | None
    body_limit: int
    handle: RouteHandler
    doc: dict[str, Any] = field(default_factory=dict)

"""v1's deprecation headers, added to every response under ``/v1``, errors and 404/405 included.

- ``Deprecation: @<unix seconds>`` (RFC 9745: a structured-field date),
- ``Sunset: <HTTP-date>`` (RFC 8594),
- ``Link: </v2/predict>; rel="successor-version"``,
- ``X-API-Deprecation: v1 deprecated on YYYY-MM-DD``.

The dates come from the settings (``V1_DEPRECATION_DATE``, ``V1_SUNSET_DATE``), which the
infrastructure takes from ``infra/config.py`` ``StageConfig``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the ASGI middleware serves the local server only; Lambda adds the headers itself
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

SUCCESSOR = "/v2/predict"
PREFIX = "/v1"


def _midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def deprecation_headers(deprecated_on: date, sunset_on: date) -> dict[str, str]:
    """The four headers, as names and values."""
    # Only a deployment serving v1 builds them: the v2 function's cold start skips the email package.
    from email.utils import format_datetime

    return {
        "Deprecation": f"@{int(_midnight_utc(deprecated_on).timestamp())}",
        "Sunset": format_datetime(_midnight_utc(sunset_on), usegmt=True),
        "Link": f'<{SUCCESSOR}>; rel="successor-version"',
        "X-API-Deprecation": f"v1 deprecated on {deprecated_on.isoformat()}",
    }


def applies_to(path: str) -> bool:
    """Whether a path is v1's (its answers carry the deprecation headers)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def openapi_headers(deprecated_on: date, sunset_on: date) -> dict[str, dict[str, Any]]:
    """The same headers as OpenAPI response-header documentation."""
    values = deprecation_headers(deprecated_on, sunset_on)
    descriptions = {
        "Deprecation": "RFC 9745: when v1 was (or will be) deprecated, as @<unix seconds>",
        "Sunset": "RFC 8594: when v1 stops answering (HTTP-date)",
        "Link": "The successor endpoint",
        "X-API-Deprecation": "Human-readable deprecation notice",
    }
    return {
        name: {"description": descriptions[name], "schema": {"type": "string", "example": value}}
        for name, value in values.items()
    }


class DeprecationHeaders:
    """Pure ASGI middleware: appends the headers to every response whose path is under ``/v1``."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not applies_to(path):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.raw]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

"""A minimal JSON-over-HTTPS client on the standard library (no extra dependency in the layer).

Every outcome is a value: an :class:`HttpResponse` for any status the server sent, a
:class:`TransportError` for no answer (refused, reset, timed out), so the retry policy
decides what to do with each.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", errors="replace")


class TransportError(ConnectionError):
    """No HTTP answer: connection refused or reset, DNS failure, or a timeout."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def _check_url(url: str) -> None:
    # urllib also opens file:// and ftp:// URLs; only HTTP(S) endpoints are ever meant here.
    if urlsplit(url).scheme not in ("https", "http"):
        raise ValueError(f"refusing a non-HTTP URL: {url.split('?', 1)[0]!r}")


def request_json(
    method: str, url: str, payload: Any = None, *, timeout: float, headers: dict[str, str] | None = None
) -> HttpResponse:
    """Send one request (JSON body when ``payload`` is given) and return whatever came back."""
    _check_url(url)
    data = None if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    all_headers = {"accept": "application/json", **(headers or {})}
    if data is not None:
        all_headers["content-type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return HttpResponse(
                response.status, response.read(), {k.lower(): v for k, v in response.headers.items()}
            )
    except urllib.error.HTTPError as error:
        body = error.read() if error.fp is not None else b""
        return HttpResponse(error.code, body, {k.lower(): v for k, v in (error.headers or {}).items()})
    except TimeoutError as error:
        raise TransportError(
            f"{method} {_safe(url)} timed out after {timeout:g} s", timed_out=True
        ) from error
    except urllib.error.URLError as error:
        timed_out = isinstance(error.reason, (TimeoutError, socket.timeout))
        raise TransportError(f"{method} {_safe(url)} failed: {error.reason}", timed_out=timed_out) from error
    except (ConnectionError, OSError) as error:
        raise TransportError(f"{method} {_safe(url)} failed: {error}") from error


def post_json(
    url: str, payload: Any, *, timeout: float, headers: dict[str, str] | None = None
) -> HttpResponse:
    """POST ``payload`` as JSON."""
    return request_json("POST", url, payload, timeout=timeout, headers=headers)


def _safe(url: str) -> str:
    """The URL without its path: webhook paths are secrets and must never reach a log."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"

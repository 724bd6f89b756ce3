"""Request limits, checked before any validation: content type, body size, JSON syntax and depth.

Everything here answers a 4xx with a message saying what to change; nothing reaches the
model or the validators unless it is a JSON document of a sane size and shape.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import numpy as np
from starlette.requests import Request

from propensity.constants import MAX_BODY_BYTES_SINGLE, MAX_JSON_DEPTH
from propensity.service.core.errors import (
    JSON_MEDIA_TYPE,
    MalformedRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)


def check_content_type(request: Request) -> None:
    """Only ``application/json`` (parameters such as ``charset`` allowed) is accepted."""
    raw = request.headers.get("content-type")
    media_type = raw.split(";", 1)[0].strip().lower() if raw else ""
    if media_type != JSON_MEDIA_TYPE:
        shown = f"'{raw}'" if raw else "no content type"
        raise UnsupportedMediaTypeError(f"send the body as {JSON_MEDIA_TYPE} (got {shown})")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(_too_large(int(declared), limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(_too_large(size, limit, at_least=True))
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(size: int, limit: int, at_least: bool = False) -> str:
    qualifier = "at least " if at_least else ""
    return f"request body is {qualifier}{size} bytes; the limit for this endpoint is {limit} bytes"


def _refuse_constant(name: str) -> Any:
    raise MalformedRequestError(f"{name} is not a valid JSON number; send finite numbers only")


def _number(literal: str) -> float | int:
    # JSON has one number type; like JSON Schema, a number with no fractional part is an
    # integer ("41.0", "4.1e1"), so clients whose serialisers write doubles are not refused.
    # The request models stay strict: "41", true and 41.5 are still not integers.
    value = float(literal)
    return int(value) if value.is_integer() else value


def parse_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON body strictly: no NaN/Infinity, nesting at most ``max_depth`` levels.

    Integral numbers written with a fraction or exponent (``41.0``) are read as integers.
    """
    if not body.strip():
        raise MalformedRequestError("request body is empty; send a JSON object")
    try:
        document = json.loads(body, parse_constant=_refuse_constant, parse_float=_number)
    except RecursionError:
        raise MalformedRequestError(f"JSON nesting is deeper than the limit of {max_depth} levels") from None
    except UnicodeDecodeError:
        raise MalformedRequestError("request body is not valid UTF-8 text") from None
    except json.JSONDecodeError as error:
        detail = f"{error.msg} at line {error.lineno} column {error.colno}"
        raise MalformedRequestError(f"request body is not valid JSON: {detail}") from None
    except ValueError as error:
        raise MalformedRequestError(f"request body is not valid JSON: {error}") from None
    too_deep = (
        _deeper_than(document, max_depth) if len(body) <= _WALK_UP_TO_BYTES else _max_depth(body) > max_depth
    )
    if too_deep:
        raise MalformedRequestError(f"JSON nesting is deeper than the limit of {max_depth} levels")
    return document


# Small documents: walk the parsed containers. Large ones (batches): scan the bytes in C
# (regex, translate, numpy), about twice as fast as walking 1,000 records in Python.
_WALK_UP_TO_BYTES: Final[int] = MAX_BODY_BYTES_SINGLE
_ESCAPE = re.compile(rb"\\.")
_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


def _max_depth(body: bytes) -> int:
    """Deepest container nesting of a valid JSON text (brackets inside strings do not count)."""
    structure = _STRING.sub(b"", _ESCAPE.sub(b"", body).translate(None, _NOT_STRUCTURE))
    if not structure:
        return 0
    brackets = np.frombuffer(structure, dtype=np.uint8)
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _deeper_than(document: Any, limit: int) -> bool:
    """True when containers nest more than ``limit`` levels (the top-level object is level 1)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False

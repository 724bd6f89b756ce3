"""The edge of every event-driven handler: a malformed event becomes one typed, logged error.

Handlers parse their event with the library's own parser (``DriftRequest.from_event``, the S3
key readers, ...). Those parsers index into the event as the documented shape says; a hand-made,
truncated or misrouted event then fails with a ``KeyError`` or ``TypeError`` that says nothing
useful. :func:`parse_event` turns any such failure into :class:`BadEventError` with the reason,
logs it as one structured line (the event's top-level keys, never its content), and raises:
the invocation fails, Lambda retries it and hands it to the function's dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from propensity.observability import logger

T = TypeVar("T")
MAX_ID_LENGTH: Final[int] = 256

# What a parser may raise on a wrong shape; anything else is a bug and propagates as is.
SHAPE_ERRORS: Final = (
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    ValueError,
    OverflowError,
    RecursionError,
)


class BadEventError(ValueError):
    """The invocation's event is not one this function accepts (say which, and why)."""

    def __init__(self, function: str, reason: str) -> None:
        super().__init__(f"{function}: unusable event: {reason}")
        self.function = function
        self.reason = reason


def _reason(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}" if error.args else "missing field"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text[:300]}"


def parse_event(parse: Callable[[Mapping[str, Any]], T], event: object, *, function: str) -> T:
    """``parse(event)``, or :class:`BadEventError` for anything that is not the expected shape."""
    try:
        if not isinstance(event, Mapping):
            raise BadEventError(function, f"expected a JSON object, got {type(event).__name__}")
        return parse(event)
    except BadEventError as error:
        _log(error, event)
        raise
    except SHAPE_ERRORS as error:
        bad = BadEventError(function, _reason(error))
        _log(bad, event)
        raise bad from error


def _log(error: BadEventError, event: object) -> None:
    keys = sorted(str(k)[:64] for k in event)[:20] if isinstance(event, Mapping) else []
    logger.error(
        "unusable event; failing the invocation (retries, then the dead-letter queue)",
        extra={"function": error.function, "reason": error.reason, "event_keys": keys},
    )


def codedeploy_hook_ids(event: Mapping[str, Any]) -> tuple[str, str]:
    """``(DeploymentId, LifecycleEventHookExecutionId)`` of a CodeDeploy lifecycle hook event."""
    ids = []
    for name in ("DeploymentId", "LifecycleEventHookExecutionId"):
        value = event[name]
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
            raise ValueError(f"{name} must be a non-empty string of at most {MAX_ID_LENGTH} characters")
        ids.append(value)
    return ids[0], ids[1]

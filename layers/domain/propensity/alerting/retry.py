"""Delivery with retries: exponential backoff on 5xx, 429 and timeouts, then give up loudly.

Giving up means raising :class:`DeliveryError`: the Lambda runtime then retries the whole
invocation and finally hands the event to its on-failure destination (the alert
dead-letter queue, which has an alarm of its own).

A provider's ``Retry-After`` is honoured as given, not capped, as long as the wait and one
more attempt fit in what is left of the invocation (``remaining_s``, from the Lambda
context). When they do not, waiting would only get the function killed mid-attempt: the
invocation fails at once instead and Lambda's asynchronous retry (1 then 2 minutes later)
takes over. Our own backoff delays obey the same deadline.

Provider answers are never logged as sent: an error body may echo the payload or an
account detail. Only a short error code (Slack's ``invalid_payload``, PagerDuty's
``"status"``) is kept; anything else is reported by its size (:func:`redacted`).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from propensity.alerting.http import HttpResponse, TransportError
from propensity.observability import logger

Sleep = Callable[[float], None]
# Seconds left in the invocation (``context.get_remaining_time_in_millis() / 1000``).
Remaining = Callable[[], float]
# Kept free after the last wait and attempt: the handler still logs, flushes metrics, returns.
DEADLINE_MARGIN_S = 2.0
_SAFE_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_ .-]{0,39}$")


def redacted(body: bytes) -> str:
    """What of a provider's answer may be logged: a short error code, else its size only."""
    text = body.strip()[:200].decode("utf-8", errors="replace")
    code: object = text
    if text.startswith("{"):
        try:
            code = json.loads(body).get("status", "")
        except (ValueError, AttributeError, RecursionError):
            code = ""
    if isinstance(code, str) and _SAFE_CODE.match(code):
        return code
    return f"<{len(body)} bytes withheld>"


class RetryPolicy(BaseModel):
    """How hard one invocation tries before giving up (the platform retries after that)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: Annotated[int, Field(ge=1, le=10)] = 4
    base_delay_s: Annotated[float, Field(ge=0)] = 1.0
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    max_delay_s: Annotated[float, Field(ge=0)] = 8.0
    # Each delay is shortened by up to this share at random, so notifiers retrying after one
    # provider outage do not all hit it again in the same instant.
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.2
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 5.0
    # Without an invocation deadline (a local run), a Retry-After longer than this is cut to it.
    max_retry_after_s: Annotated[float, Field(ge=0)] = 300.0

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        raw = min(self.max_delay_s, self.base_delay_s * self.multiplier ** (retry - 1))
        return raw * (1 - self.jitter * rng())

    def worst_case_seconds(self) -> float:
        """Longest one delivery can take: every attempt timing out plus every full delay.

        The notifier functions' timeout is derived from this, so a slow provider makes the
        invocation fail cleanly (and reach the DLQ) instead of being killed mid-retry.
        """
        delays = sum(
            min(self.max_delay_s, self.base_delay_s * self.multiplier**i) for i in range(self.attempts - 1)
        )
        return self.attempts * self.timeout_s + delays


class DeliveryError(RuntimeError):
    """The alert could not be delivered; raising it sends the event on to the DLQ."""

    def __init__(
        self, message: str, *, attempts: int, status: int | None = None, retryable: bool = True
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class Delivered:
    """A successful delivery and what it took."""

    status: int
    attempts: int
    body: bytes


def is_retryable(status: int) -> bool:
    """Server errors and rate limiting are worth another try; other 4xx are our mistake."""
    return status >= 500 or status in (408, 429)


def _retry_after(response: HttpResponse) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare from these providers, fall back to our own backoff
    return max(0.0, seconds) if seconds == seconds else None  # NaN is not a delay


def deliver(
    send: Callable[[float], HttpResponse],
    *,
    target: str,
    policy: RetryPolicy,
    sleep: Sleep = time.sleep,
    rng: Callable[[], float] = random.random,
    remaining_s: Remaining | None = None,
) -> Delivered:
    """Call ``send(timeout)`` until it returns 2xx, retrying per ``policy``.

    Raises :class:`DeliveryError` at once for a non-retryable answer (a 400 will not fix
    itself), after the last attempt for retryable ones, and as soon as the next wait and
    attempt would not fit in ``remaining_s()`` (then Lambda's async retry takes over).
    """
    last = ""
    status: int | None = None
    for attempt in range(1, policy.attempts + 1):
        wait: float | None = None
        try:
            response = send(policy.timeout_s)
        except TransportError as error:
            last, status = str(error), None
        else:
            if response.ok:
                if attempt > 1:
                    logger.info("delivered after retries", extra={"target": target, "attempts": attempt})
                return Delivered(response.status, attempt, response.body)
            status = response.status
            last = f"HTTP {response.status}: {redacted(response.body)}"
            if not is_retryable(response.status):
                raise DeliveryError(
                    f"{target} refused the alert ({last})", attempts=attempt, status=status, retryable=False
                )
            wait = _retry_after(response)
        if attempt == policy.attempts:
            break
        delay = wait if wait is not None else policy.delay(attempt, rng)
        if remaining_s is None:
            delay = min(delay, policy.max_retry_after_s)
        elif delay + policy.timeout_s + DEADLINE_MARGIN_S > remaining_s():
            logger.warning(
                "next attempt does not fit in this invocation; handing back to Lambda's retry",
                extra={"target": target, "attempt": attempt, "error": last, "wait_s": round(delay, 3)},
            )
            raise DeliveryError(
                f"{target} asked to wait {delay:g} s, more than this invocation has left (last: {last})",
                attempts=attempt,
                status=status,
            )
        logger.warning(
            "delivery failed, retrying",
            extra={"target": target, "attempt": attempt, "error": last, "retry_in_s": round(delay, 3)},
        )
        sleep(delay)
    raise DeliveryError(
        f"{target} unreachable after {policy.attempts} attempts (last: {last})",
        attempts=policy.attempts,
        status=status,
    )

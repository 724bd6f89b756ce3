"""Delivery with retries: exponential backoff on 5xx, 429 and timeouts, then give up loudly.

Giving up means raising :class:`DeliveryError`: the Lambda runtime then retries the whole
invocation and finally hands the event to its on-failure destination (the alert
dead-letter queue, which has an alarm of its own).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from propensity.alerting.http import HttpResponse, TransportError
from propensity.observability import logger

Sleep = Callable[[float], None]


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


def _retry_after(response: HttpResponse, cap: float) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        return None  # an HTTP date: rare from these providers, fall back to our own backoff


def deliver(
    send: Callable[[float], HttpResponse],
    *,
    target: str,
    policy: RetryPolicy,
    sleep: Sleep = time.sleep,
    rng: Callable[[], float] = random.random,
) -> Delivered:
    """Call ``send(timeout)`` until it returns 2xx, retrying per ``policy``.

    Raises :class:`DeliveryError` at once for a non-retryable answer (a 400 will not fix
    itself), and after the last attempt for retryable ones.
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
            last = f"HTTP {response.status}: {response.text()}"
            if not is_retryable(response.status):
                raise DeliveryError(
                    f"{target} refused the alert ({last})", attempts=attempt, status=status, retryable=False
                )
            wait = _retry_after(response, policy.max_delay_s)
        if attempt == policy.attempts:
            break
        delay = wait if wait is not None else policy.delay(attempt, rng)
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

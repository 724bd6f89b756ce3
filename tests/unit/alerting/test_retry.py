"""Retry policy: what is retried, how long it waits, when it gives up (no network)."""

from __future__ import annotations

import pytest

from propensity.alerting.http import HttpResponse, TransportError
from propensity.alerting.retry import DeliveryError, RetryPolicy, deliver


class Script:
    """A sender that answers from a list of outcomes and records each call's timeout."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.timeouts = []

    def __call__(self, timeout):
        self.timeouts.append(timeout)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


NO_JITTER = RetryPolicy(attempts=4, base_delay_s=1, multiplier=2, max_delay_s=3, jitter=0, timeout_s=2)


def test_server_errors_and_timeouts_are_retried_with_exponential_backoff():
    # Given a provider that fails three ways before accepting
    send = Script(
        HttpResponse(503),
        TransportError("timed out", timed_out=True),
        HttpResponse(500),
        HttpResponse(202, b'{"status":"success"}'),
    )
    slept = []

    # When the alert is delivered
    delivered = deliver(send, target="PagerDuty", policy=NO_JITTER, sleep=slept.append)

    # Then it took four attempts, waiting 1, 2 and then the 3 s cap, each with the policy's timeout
    assert delivered.attempts == 4 and delivered.status == 202
    assert slept == [1, 2, 3]
    assert send.timeouts == [2, 2, 2, 2]


def test_rate_limiting_honours_retry_after_within_the_cap():
    send = Script(
        HttpResponse(429, headers={"retry-after": "2"}),
        HttpResponse(429, headers={"retry-after": "60"}),
        HttpResponse(200, b"ok"),
    )
    slept = []
    deliver(send, target="Slack", policy=NO_JITTER, sleep=slept.append)
    assert slept == [2.0, 3.0]


def test_gives_up_after_the_last_attempt():
    # Given a provider that is down
    send = Script(*[HttpResponse(502, b"bad gateway")] * 4)
    slept = []

    # When delivery is attempted / Then it raises after every attempt was used
    with pytest.raises(DeliveryError, match="after 4 attempts") as raised:
        deliver(send, target="PagerDuty", policy=NO_JITTER, sleep=slept.append)
    assert raised.value.attempts == 4 and raised.value.status == 502 and raised.value.retryable
    assert len(slept) == 3


def test_a_client_error_is_not_retried():
    # Given a provider that says the request itself is wrong
    send = Script(HttpResponse(400, b'{"status":"invalid event"}'))

    # When / Then delivery stops at once: retrying the same body cannot help
    with pytest.raises(DeliveryError, match="refused") as raised:
        deliver(send, target="PagerDuty", policy=NO_JITTER, sleep=lambda s: pytest.fail("must not sleep"))
    assert raised.value.retryable is False and raised.value.status == 400


def test_jitter_only_shortens_delays_and_worst_case_bounds_an_invocation():
    policy = RetryPolicy()
    assert policy.delay(1, rng=lambda: 0.0) == policy.base_delay_s
    assert policy.delay(1, rng=lambda: 1.0) == pytest.approx(policy.base_delay_s * (1 - policy.jitter))
    assert policy.delay(10, rng=lambda: 0.0) == policy.max_delay_s
    # 4 attempts x 5 s timeout + 1 + 2 + 4 s of waiting
    assert policy.worst_case_seconds() == 4 * 5 + 1 + 2 + 4

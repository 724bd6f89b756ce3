"""Retry policy: what is retried, how long it waits, when it gives up (no network)."""

from __future__ import annotations

import pytest

from propensity.alerting.http import HttpResponse, TransportError
from propensity.alerting.retry import DeliveryError, RetryPolicy, deliver, redacted


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


def test_retry_after_is_honoured_in_full_when_the_invocation_has_time_for_it():
    # Given a provider rate limiting twice, 2 s then 60 s (beyond the 3 s backoff cap)
    send = Script(
        HttpResponse(429, headers={"retry-after": "2"}),
        HttpResponse(429, headers={"retry-after": "60"}),
        HttpResponse(200, b"ok"),
    )
    slept = []
    # When the invocation has 5 minutes left
    deliver(send, target="Slack", policy=NO_JITTER, sleep=slept.append, remaining_s=lambda: 300.0)
    # Then both waits are what the provider asked for, not the backoff cap
    assert slept == [2.0, 60.0]


def test_a_retry_after_beyond_the_remaining_time_hands_back_to_lambdas_retry():
    # Given a provider asking for 60 s while the invocation has 30 s left
    send = Script(HttpResponse(429, b'{"status":"throttled"}', headers={"retry-after": "60"}))
    slept = []
    # When / Then delivery fails at once (retryable), without waiting into the function's timeout
    with pytest.raises(DeliveryError, match="more than this invocation has left") as raised:
        deliver(send, target="PagerDuty", policy=NO_JITTER, sleep=slept.append, remaining_s=lambda: 30.0)
    assert slept == [] and raised.value.retryable and raised.value.status == 429
    assert raised.value.attempts == 1


def test_our_own_backoff_also_stops_at_the_deadline():
    # Given 503s and an invocation whose time runs out after the first wait
    send = Script(HttpResponse(503), HttpResponse(503), HttpResponse(200))
    left = iter([10.0, 3.0])
    slept = []
    # When / Then the second wait (2 s + a 2 s attempt + margin) no longer fits: it raises
    with pytest.raises(DeliveryError, match="more than this invocation has left"):
        deliver(send, target="Slack", policy=NO_JITTER, sleep=slept.append, remaining_s=lambda: next(left))
    assert slept == [1]


def test_without_a_deadline_a_huge_retry_after_is_cut_to_the_local_cap():
    send = Script(HttpResponse(429, headers={"retry-after": "86400"}), HttpResponse(200))
    slept = []
    deliver(send, target="Slack", policy=NO_JITTER, sleep=slept.append)
    assert slept == [NO_JITTER.max_retry_after_s]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-5", 0.0), ("nan", 1.0), ("Wed, 21 Oct 2026 07:28:00 GMT", 1.0), ("1.5", 1.5)],
)
def test_odd_retry_after_values_fall_back_safely(value, expected):
    send = Script(HttpResponse(429, headers={"retry-after": value}), HttpResponse(200))
    slept = []
    deliver(send, target="Slack", policy=NO_JITTER, sleep=slept.append, remaining_s=lambda: 60.0)
    assert slept == [expected]


@pytest.mark.parametrize(
    ("body", "logged"),
    [
        (b"invalid_payload", "invalid_payload"),
        (b'{"status":"invalid event","errors":["routing_key R0UT1NG is wrong"]}', "invalid event"),
        (b"<html>Internal error for customer c-42 at 10.1.2.3</html>", "<57 bytes withheld>"),
        (b'{"message": "secret stuff"}', "<27 bytes withheld>"),
        (b"", "<0 bytes withheld>"),
    ],
)
def test_provider_bodies_are_redacted_to_a_short_code(body, logged):
    assert redacted(body) == logged


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

"""The notifier functions against misbehaving providers on 127.0.0.1: timeouts, 5xx, 429s whose
Retry-After does or does not fit in the invocation, and error bodies that must not be logged.

Each case ends one of two ways, never a third: delivered exactly once, or the invocation
raises (Lambda retries it, then the alert DLQ keeps it): nothing is lost, nothing sent twice.
"""

from __future__ import annotations

import pytest

from propensity.alerting.alarm import AlarmMessageError
from propensity.alerting.retry import DeliveryError
from tests.bad_inputs import TABLES, ids
from tests.events import LambdaContext
from tests.integration import test_notifiers
from tests.integration.stand_in import Reply, load_handler
from tests.integration.test_notifiers import alarm_event

# The notifier fixtures (moto Secrets Manager, the PagerDuty and Slack stand-ins), shared as they are.
aws, pagerduty, slack = test_notifiers.aws, test_notifiers.pagerduty, test_notifiers.slack

SECRET_BODY = b'{"error": "invalid routing key R0UT1NG0KEYFORTESTS for customer c-42"}'


class Context(LambdaContext):
    """A Lambda context with a chosen time left."""

    def __init__(self, remaining_s: float) -> None:
        super().__init__()
        self.remaining_ms = int(remaining_s * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


# (provider replies in order, remaining seconds, outcome: "delivered" or the DeliveryError text)
SCENARIOS = [
    ("503 then accepted", [Reply(503), Reply(202, {"status": "success"})], 60, "delivered"),
    (
        "timeout then accepted",
        [Reply(202, {"status": "success"}, delay_s=1.0), Reply(202, {"status": "success"})],
        60,
        "delivered",
    ),
    (
        "429 with a Retry-After that fits",
        [Reply(429, headers={"Retry-After": "0.3"}), Reply(202, {"status": "success"})],
        60,
        "delivered",
    ),
    (
        "429 with a Retry-After past the deadline",
        [Reply(429, headers={"Retry-After": "120"})],
        60,
        "more than this invocation has left",
    ),
    ("500 four times", [Reply(500, SECRET_BODY)] * 4, 60, "unreachable after 4 attempts"),
    ("timeouts four times", [Reply(202, delay_s=1.0)] * 4, 60, "unreachable after 4 attempts"),
    (
        "503 with too little time left for a retry",
        [Reply(503, SECRET_BODY)],
        2.5,
        "more than this invocation has left",
    ),
    ("400 refused", [Reply(400, SECRET_BODY)], 60, "refused the alert"),
]


@pytest.mark.parametrize(
    ("name", "replies", "remaining", "outcome"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_pagerduty_faults_end_delivered_once_or_raised(
    pagerduty, capsys, caplog, name, replies, remaining, outcome
):
    pagerduty.then(*replies)
    handler = load_handler("notify_pagerduty")
    event = alarm_event("ALARM")
    if outcome == "delivered":
        result = handler.lambda_handler(event, Context(remaining))
        assert result["delivered"] == ["propensity-test-api-5xx-critical"]
        accepted = [
            r
            for r, reply in zip(pagerduty.requests, [*replies, Reply()], strict=False)
            if reply.status == 202 and not reply.delay_s
        ]
        assert len(accepted) == 1  # PagerDuty accepted exactly one event (the dedup key would merge more)
    else:
        with pytest.raises(DeliveryError, match=outcome):
            handler.lambda_handler(event, Context(remaining))
        assert len(pagerduty.requests) == len(replies)  # no attempt beyond the script: nothing sent later
    # And no provider body reached the logs
    logged = capsys.readouterr().out + caplog.text
    assert "R0UT1NG0KEYFORTESTS" not in logged and "c-42" not in logged


def test_a_retry_after_past_the_deadline_fails_at_once_without_waiting(slack):
    import time

    slack.then(Reply(429, b"rate_limited", headers={"Retry-After": "30"}))
    handler = load_handler("notify_slack")
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="asked to wait 30 s"):
        handler.lambda_handler(alarm_event("ALARM", tier="warning"), Context(20))
    assert time.monotonic() - started < 2 and len(slack.requests) == 1


@pytest.mark.parametrize(("name", "event"), TABLES["notify_slack"], ids=ids(TABLES["notify_slack"]))
def test_the_slack_notifier_refuses_what_is_not_an_alarm_and_sends_nothing(slack, name, event):
    handler = load_handler("notify_slack")
    with pytest.raises(AlarmMessageError):
        handler.lambda_handler(event, LambdaContext())
    assert slack.requests == []

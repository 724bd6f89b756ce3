"""Which alarms the digest reports, and how it words the figures (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from propensity.alerting.description import describe_alarm
from propensity.alerting.digest import compose_digest, digest_text
from propensity.alerting.digest_source import AlarmDefinition, DigestSource, StateChange
from propensity.alerting.signals import Deployment

END = datetime(2026, 11, 26, 8, tzinfo=UTC)
TOPICS = {"critical": "arn:sns:critical", "warning": "arn:sns:warning", "info": "arn:sns:info"}
RUNBOOK = "https://example.com/RUNBOOK.md"


class Recorded(DigestSource):
    """A source that answers from lists and remembers the window it was asked for."""

    def __init__(self, alarms, changes, values):
        self._alarms, self._changes, self._values = alarms, changes, values
        self.asked = []

    def alarms(self):
        return self._alarms

    def state_changes(self, start, end):
        self.asked.append((start, end))
        return self._changes

    def statistics(self, metrics, start, end):
        self.asked.append((start, end))
        return {key: self._values.get(key) for key in metrics}


def definition(name, tier, *actions, state="OK"):
    text = describe_alarm(summary=f"{name} means trouble", tier=tier, runbook_url=RUNBOOK, anchor=name)
    return AlarmDefinition(name=name, description=text, actions=actions, state=state)


DEPLOYMENT = Deployment(
    stage="prod",
    api_name="propensity-prod-api",
    api_stage="prod",
    functions={"v1": "fn-v1", "v2": "fn-v2"},
    probe_service="probe",
    tier_topics=TOPICS,
)


def test_only_alarms_on_our_topics_that_fired_or_still_fire_are_reported_most_severe_first():
    # Given alarms on each topic (one on two topics), one of another team, one still in ALARM from before
    alarms = [
        definition("info-one", "info", TOPICS["info"]),
        definition("both", "warning", TOPICS["info"], TOPICS["critical"]),
        definition("quiet", "warning", TOPICS["warning"]),
        definition("theirs", "critical", "arn:sns:someone-else"),
        definition("stuck", "warning", TOPICS["warning"], state="ALARM"),
    ]
    at = END - timedelta(hours=2)
    changes = [
        StateChange("info-one", at, "OK", "ALARM", ""),
        StateChange("info-one", at, "ALARM", "OK", ""),
        StateChange("info-one", at + timedelta(minutes=5), "OK", "ALARM", ""),
        StateChange("both", at, "OK", "ALARM", ""),
        StateChange("theirs", at, "OK", "ALARM", ""),
    ]
    source = Recorded(alarms, changes, {})

    # When the digest is composed
    digest = compose_digest(DEPLOYMENT, source, END)

    # Then the window is the 24 hours before the end, and only our alarms that fired are listed
    assert set(source.asked) == {(END - timedelta(hours=24), END)}
    assert [(a.name, a.tier, a.fired) for a in digest.alarms] == [
        ("both", "critical", 1),
        ("stuck", "warning", 0),
        ("info-one", "info", 2),
    ]
    assert digest.alarms[0].runbook == f"{RUNBOOK}#both"
    text = digest_text(digest, "https://dashboard")
    assert "stuck: stuck means trouble; in ALARM since before the window" in text
    assert "quiet" not in text and "theirs" not in text


def test_figures_are_reported_with_rates_and_missing_ones_say_no_data():
    # Given a day with traffic but no drift figures
    values = {
        "service.requests": 2000.0,
        "service.errors_5xx": 3.0,
        "service.errors_4xx": 40.0,
        "service.latency_p50_ms": 12.4,
        "v2.invocations": 1500.0,
        "v2.extra.max feature PSI": 0.04,
    }
    digest = compose_digest(DEPLOYMENT, Recorded([], [], values), END)

    # When it is written out
    text = digest_text(digest, "https://dashboard")

    # Then rates are computed from counts, absent figures say so, absent drift is left out
    assert "Requests: 2,000" in text and "5xx: 3 (0.15%); 4xx: 40 (2.00%)" in text
    assert "Latency p50 / p95 / p99: 12 ms / no data / no data" in text
    assert "v1: invocations no data" in text
    assert (
        "v2: invocations 1,500, function errors no data, throttles no data, predictions no data, "
        "max feature PSI 0.04"
    ) in text
    assert "predicted yes rate" not in text

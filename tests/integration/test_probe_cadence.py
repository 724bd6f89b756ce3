"""A probe every 30 s: two runs per scheduled invocation, each published as its own metrics.

Real HTTP against the stand-in API on 127.0.0.1; the clock and the sleep are the test's, so the
30-second wait costs nothing and its length is checked exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from infra.constructs.probe import probe_cadence
from propensity.alerting.secrets import StaticSecretStore
from propensity.observability import metrics
from propensity.policy.alarms import AlarmThresholds
from propensity.probe.cadence import probe_invocation, run_budget_seconds
from tests.integration.stand_in import Reply, serve
from tests.integration.test_probe import GOLDENS, healthy_api, settings

NOW = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        self.t += 0.4  # every look at the clock: a little of the run has passed
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


@pytest.fixture
def api():
    with serve(Reply(404, {"detail": "Not Found"})) as server:
        yield server


def emf_documents(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line and "ProbeSuccess" in line]


def test_two_runs_thirty_seconds_apart_each_flushed_as_high_resolution_metrics(api, capsys):
    # Given a healthy API and a probe configured for two runs a minute
    api.responder = healthy_api()
    probe = settings(api.url, runs_per_invocation=2)
    clock = Clock()
    capsys.readouterr()
    # When one scheduled invocation runs (55 s left, as the function's 59 s timeout gives)
    reports = probe_invocation(
        probe,
        GOLDENS,
        StaticSecretStore({}),
        remaining_s=lambda: 55.0,
        sleep=clock.sleep,
        clock=clock,
        now=lambda: NOW,
    )
    metrics.clear_metrics()
    # Then it ran twice, the second run starting 30 s after the first did
    assert [r.ok for r in reports] == [True, True]
    assert len(clock.slept) == 1 and 28 < clock.slept[0] < 30
    assert [r.started_at for r in reports] == [NOW, NOW.replace(second=30)]
    # And each run is its own EMF document, at one-second resolution (the 30 s alarm reads them)
    documents = emf_documents(capsys.readouterr().out)
    assert [d["ProbeSuccess"] for d in documents] == [[1.0], [1.0]]
    definitions = documents[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    assert {m["Name"]: m.get("StorageResolution") for m in definitions}["ProbeSuccess"] == 1
    # And the runs sent different golden cases (rotation per 30 s slot)
    assert len(api.requests) == 14


def test_a_run_that_would_outlast_the_invocation_is_skipped_and_said(api, capsys, caplog):
    api.responder = healthy_api()
    probe = settings(api.url, runs_per_invocation=2)
    clock = Clock()

    # 31 s left at the start: after the 30 s wait, less than one run's worst case remains
    def remaining() -> float:
        return 31.0 - (clock.t - 1000.0)

    assert remaining() - 30 < run_budget_seconds(probe)
    reports = probe_invocation(
        probe, GOLDENS, StaticSecretStore({}), remaining_s=remaining, sleep=clock.sleep, clock=clock
    )
    metrics.clear_metrics()
    assert len(reports) == 1
    assert "probe run skipped" in capsys.readouterr().out + caplog.text


def test_the_deployed_cadence_never_overlaps_the_next_invocation():
    # Given the deployed settings: once a minute, a run every 30 s, 7 requests per run
    runs, request_timeout, function_timeout = probe_cadence(1, AlarmThresholds().probe_interval_seconds, 7)
    # Then two runs, each fitting in its 30 s even if every request times out, within 59 s
    assert (runs, function_timeout) == (2, 59)
    assert 7 * request_timeout <= 28
    assert (runs - 1) * 30 + 7 * request_timeout < function_timeout
    # And cadences that do not divide the schedule fail at synth
    with pytest.raises(ValueError, match="does not divide"):
        probe_cadence(1, 45, 7)
    with pytest.raises(ValueError, match="1 to 6 runs"):
        probe_cadence(5, 10, 7)

"""Several probe runs per scheduled invocation, evenly spaced: a probe every 30 s.

EventBridge schedules at most once a minute. The probe function is invoked once a minute and
runs twice, at 0 s and 30 s, each run published as its own metrics (flushed before the wait,
so each carries its own timestamp). Sleeping 30 s in Lambda costs about 4.6 USD a month at
256 MB; CloudWatch Synthetics for the same cadence costs about 104 USD (docs/reliability.md).

A later run that would not finish before the invocation's timeout is skipped and logged: its
period then has no data, which the probe alarm treats as failing, as it should (nobody
checked the API). Runs never overlap the next invocation: the per-request timeout is sized so
that a whole run fits in the interval (``infra/constructs/probe.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from propensity.alerting.http import request_json
from propensity.alerting.secrets import SecretStore
from propensity.bundle.golden import GoldenSet
from propensity.constants import ApiVersion
from propensity.observability import logger, metrics
from propensity.probe.publish import probe_once
from propensity.probe.runner import Http, ProbeReport
from propensity.probe.settings import ProbeSettings

# Kept free at the end of the invocation for the last flush and the return.
END_MARGIN_S = 1.0


def run_budget_seconds(settings: ProbeSettings) -> float:
    """Longest one run can take: every request timing out."""
    requests = 1 + settings.cases_per_run * len(settings.apis)
    return requests * settings.timeout_s


def probe_invocation(
    settings: ProbeSettings,
    goldens: dict[ApiVersion, GoldenSet],
    secrets: SecretStore,
    *,
    remaining_s: Callable[[], float],
    http: Http = request_json,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[ProbeReport]:
    """``settings.runs_per_invocation`` runs, ``interval_seconds`` apart; their reports."""
    start, started_at = clock(), now()
    reports: list[ProbeReport] = []
    for run in range(settings.runs_per_invocation):
        due = start + run * settings.interval_seconds
        wait = due - clock()
        if wait > 0 and run > 0:
            sleep(wait)
        # The first run always goes (the function's timeout is sized for the whole schedule);
        # a later one only if it can finish before the invocation is stopped.
        if run > 0 and remaining_s() < run_budget_seconds(settings) + END_MARGIN_S:
            logger.error(
                "probe run skipped: it would not finish within the invocation",
                extra={"run": run, "remaining_s": round(remaining_s(), 1)},
            )
            break
        moment = started_at + timedelta(seconds=run * settings.interval_seconds)
        reports.append(probe_once(settings, goldens, secrets, http=http, now=moment))
        # Each run is its own EMF document, written now, so CloudWatch files it under this
        # run's 30-second period rather than under the invocation's end.
        metrics.flush_metrics()
    return reports

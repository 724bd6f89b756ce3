"""Local alert routing: drift and evaluation results to real HTTP stand-ins on 127.0.0.1.

The Slack and PagerDuty bodies must be the ones the AWS notifiers send (same builders), the
state must change the way a CloudWatch alarm's does, and concurrent job runs (real
processes) must neither lose nor repeat a state change.
"""

from __future__ import annotations

import io
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from propensity.alerting.local import (
    LOG_FILE,
    LocalAlertSettings,
    active_alarms,
    load_state,
    read_log,
    route_local_alerts,
)
from propensity.alerting.retry import RetryPolicy
from propensity.drift.results import Alert, GroupDrift, WindowResult
from tests.integration.stand_in import Reply, serve

HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)
FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02, timeout_s=2.0)


def window(
    hour: datetime, *, psi_alert: bool, info: bool = False, judged: bool = True, api: str = "v1"
) -> WindowResult:
    alerts = []
    if psi_alert:
        alerts.append(Alert(tier="warning", code="feature_psi", message=f"{api} m1: PSI over 0.2: age 0.41"))
    if info:
        alerts.append(
            Alert(tier="info", code="features_over_info", message=f"{api} m1: 3 features with PSI over 0.1")
        )
    group = GroupDrift(
        api_version=api, model_version="m1", events=500, has_reference=True, judged=judged, alerts=alerts
    )
    return WindowResult(
        start=hour, end=hour + timedelta(hours=1), computed_at=hour, events=500, groups=[group]
    )


def settings(tmp_path: Path, slack: str | None = None, pagerduty: str | None = None) -> LocalAlertSettings:
    return LocalAlertSettings(
        directory=tmp_path / "alerts",
        slack_url=slack,
        pagerduty_url=pagerduty,
        dashboard_url="file:///tmp/dashboard.html",
        runbook_url="file:///repo/RUNBOOK.md",
        retry=FAST,
    )


def test_a_drift_warning_reaches_the_slack_webhook_with_the_aws_message_and_resolves(tmp_path):
    with serve(Reply(200, b"ok")) as slack, serve(Reply(202, {"status": "success"})) as pagerduty:
        config = settings(tmp_path, slack=slack.url + "/services/T/B/x", pagerduty=pagerduty.url)
        console = io.StringIO()

        # When an hour breaches the PSI bound
        entries = route_local_alerts([window(HOUR, psi_alert=True)], settings=config, stream=console)

        # Then one ALARM goes to Slack (warning tier), none to PagerDuty (critical only)
        assert [(e.alarm, e.new_state) for e in entries] == [
            ("propensity-local-drift-feature-psi-warning-v1", "ALARM")
        ]
        assert len(slack.requests) == 1 and not pagerduty.requests
        body = slack.requests[0].json()
        assert slack.requests[0].path == "/services/T/B/x"
        assert body["blocks"][0]["text"]["text"].startswith(
            ":rotating_light: [warning] propensity-local-drift"
        )
        assert "age 0.41" in body["text"]
        assert "RUNBOOK.md#drift-feature-psi-warning" in body["blocks"][-1]["elements"][0]["text"]
        assert "ALERT [warning] propensity-local-drift-feature-psi-warning-v1 ALARM" in console.getvalue()

        # And re-running the same hour sends nothing again
        assert route_local_alerts([window(HOUR, psi_alert=True)], settings=config, stream=console) == []
        # And one clean hour is not enough (1 of the last 2 hours breaches), two are
        assert route_local_alerts([window(HOUR + timedelta(hours=1), psi_alert=False)], settings=config) == []
        resolved = route_local_alerts([window(HOUR + timedelta(hours=2), psi_alert=False)], settings=config)
        assert [(e.new_state, e.deliveries.get("slack")) for e in resolved] == [("OK", "delivered")]
        assert slack.requests[-1].json()["blocks"][0]["text"]["text"].endswith("resolved")
        assert len(slack.requests) == 2
    assert active_alarms(config.directory) == []
    assert [e.new_state for e in read_log(config.directory)] == ["ALARM", "OK"]


def test_an_hour_without_data_counts_as_fine_and_a_gap_resolves_the_alarm(tmp_path):
    config = settings(tmp_path)
    route_local_alerts([window(HOUR, psi_alert=True)], settings=config, stream=io.StringIO())
    # Three hours later, a clean hour: the hours between had no data (not breaching).
    later = route_local_alerts([window(HOUR + timedelta(hours=3), psi_alert=False)], settings=config)
    assert [e.new_state for e in later] == ["OK"]


def test_info_alarms_page_nobody_and_have_no_ok_action(tmp_path):
    with serve(Reply(200, b"ok")) as slack:
        config = settings(tmp_path, slack=slack.url)
        raised = route_local_alerts(
            [window(HOUR, psi_alert=False, info=True)], settings=config, stream=io.StringIO()
        )
        assert [(e.tier, e.new_state) for e in raised] == [("info", "ALARM")]
        assert not slack.requests  # info goes to the digest only
        for hour in (1, 2):
            cleared = route_local_alerts(
                [window(HOUR + timedelta(hours=hour), psi_alert=False)], settings=config
            )
        assert [e.deliveries for e in cleared] == [{"console": "quiet (no OK action)"}]


def test_a_critical_alarm_goes_to_pagerduty_and_slack(tmp_path):
    from propensity.alerting.local import LocalAlertRouter
    from propensity.alerting.local_catalogue import LocalAlarmSpec, Observation

    spec = LocalAlarmSpec("probe-failing-critical", "probe-failing-critical", "critical", "The probe fails")
    with serve(Reply(200, b"ok")) as slack, serve(Reply(202, {"status": "success"})) as pagerduty:
        router = LocalAlertRouter(
            settings(tmp_path, slack=slack.url, pagerduty=pagerduty.url), stream=io.StringIO()
        )
        router.route([Observation(spec, HOUR, True, "3 of 3 probes failed")], source="test")
        router.route([Observation(spec, HOUR + timedelta(hours=1), False, "probes pass")], source="test")
    trigger, resolve = (r.json() for r in pagerduty.requests)
    assert pagerduty.requests[0].path == "/v2/enqueue"
    assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "critical"
    assert trigger["routing_key"] == "local"
    assert resolve == {"routing_key": "local", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    assert len(slack.requests) == 2


def test_an_unreachable_webhook_is_logged_and_does_not_stop_the_job(tmp_path):
    with serve(Reply(503, b"down")) as slack:
        config = settings(tmp_path, slack=slack.url)
        entries = route_local_alerts([window(HOUR, psi_alert=True)], settings=config, stream=io.StringIO())
        assert len(slack.requests) == FAST.attempts
    assert entries[0].deliveries["slack"].startswith("error: Slack unreachable after 2 attempts")
    assert load_state(config.directory)["propensity-local-drift-feature-psi-warning-v1"].state == "ALARM"


def test_evaluation_signals_raise_the_evaluation_alarms(tmp_path, evaluation_result):
    config = settings(tmp_path)
    entries = route_local_alerts([evaluation_result], settings=config, stream=io.StringIO())
    assert {e.alarm for e in entries} == {
        "propensity-local-evaluation-f1-drop-warning-v1",
        "propensity-local-evaluation-calibration-info-v1",
    }


@pytest.fixture
def evaluation_result():
    from propensity.evaluation.models import GroupResult

    # A stored evaluation result's shape, with the signals the job computed.
    return GroupResult.model_validate(
        {
            "api_version": "v1",
            "model_version": "m1",
            "window": {"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"},
            "computed_at": "2026-11-26T00:00:00Z",
            "threshold": 0.3,
            "coverage": {"predictions": 900, "labelled": 800, "share": 0.89, "thin": False},
            "realised": None,
            "reliability": [],
            "business": None,
            "estimated": {
                "rows": 900,
                "expected_positives": 100,
                "expected_tp": 60,
                "expected_fp": 40,
                "expected_fn": 40,
                "expected_tn": 760,
                "precision": 0.6,
                "recall": 0.6,
                "f1": 0.6,
                "roc_auc": 0.8,
                "brier": 0.1,
                "conversion_rate": 0.6,
                "unexpected_subscriber_rate": 0.05,
                "net_return_eur": 10.0,
            },
            "segments": {},
            "signals": {
                "judged": True,
                "f1_drop_relative": 0.31,
                "f1_warning": True,
                "conversion_drop_relative": 0.01,
                "conversion_warning": False,
                "ece": 0.09,
                "ece_info": True,
            },
        }
    )


def _route_in_process(directory: str, hour_offset: int, url: str) -> None:
    config = LocalAlertSettings(
        directory=Path(directory),
        slack_url=url,
        console=False,
        retry=FAST,
        dashboard_url="file:///d",
        runbook_url="file:///r",
    )
    api = "v1" if hour_offset % 2 == 0 else "v2"
    route_local_alerts([window(HOUR, psi_alert=True, api=api)], settings=config)


def test_concurrent_job_processes_send_each_state_change_exactly_once(tmp_path):
    # Given 8 processes routing the same two alarms (v1 and v2) at once
    with serve(Reply(200, b"ok")) as slack:
        context = multiprocessing.get_context("spawn")
        processes = [
            context.Process(target=_route_in_process, args=(str(tmp_path / "alerts"), i, slack.url))
            for i in range(8)
        ]
        for p in processes:
            p.start()
        for p in processes:
            p.join(timeout=60)
        assert all(p.exitcode == 0 for p in processes)
    # Then each alarm went to ALARM once: two posts, two log lines, no torn line
    assert len(slack.requests) == 2
    lines = (tmp_path / "alerts" / LOG_FILE).read_text().splitlines()
    assert len(lines) == 2
    assert {e.alarm for e in read_log(tmp_path / "alerts")} == {
        "propensity-local-drift-feature-psi-warning-v1",
        "propensity-local-drift-feature-psi-warning-v2",
    }

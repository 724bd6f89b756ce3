"""Settings, requests, the report without matplotlib, and the commands on local folders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from propensity.cli import main
from propensity.evaluation import plots
from propensity.evaluation.job import run_evaluation
from propensity.evaluation.publish import LocalMetricsPublisher
from propensity.evaluation.runtime import EvaluationRequest, EvaluationSettings
from propensity.labels.runtime import LabelSettings, keys_from_s3_event
from propensity.policy.evaluation import EvaluationThresholds
from tests.events import s3_event, scheduled_event
from tests.unit.evaluation.conftest import MONDAY, FixedBaselines, label_csv, make_event, write_events


def test_settings_come_from_the_environment_with_clear_errors():
    # Given the variables the CDK construct sets
    settings = EvaluationSettings.from_env(
        {
            "ARCHIVE_LOCATION": "s3://archive",
            "BASELINES_DIR": "/var/task",
            "EVALUATION_THRESHOLDS": '{"f1_drop_warning_relative": 0.2, "lookback_windows": 4}',
        }
    )
    # Then the stage's thresholds are parsed into the policy model
    assert settings.thresholds.f1_drop_warning_relative == 0.2 and settings.thresholds.lookback_windows == 4
    assert settings.registry_location is None and str(settings.baselines_dir) == "/var/task"
    # And missing or wrong settings are refused with the reason
    with pytest.raises(ValueError, match="ARCHIVE_LOCATION"):
        EvaluationSettings.from_env({"REGISTRY_LOCATION": "x"})
    with pytest.raises(ValueError, match="REGISTRY_LOCATION or BASELINES_DIR"):
        EvaluationSettings.from_env({"ARCHIVE_LOCATION": "s3://archive"})
    with pytest.raises(ValueError, match="f1_drop_warning_relative"):
        EvaluationSettings.from_env(
            {
                "ARCHIVE_LOCATION": "a",
                "BASELINES_DIR": "b",
                "EVALUATION_THRESHOLDS": '{"f1_drop_warning_relative": 2}',
            }
        )
    with pytest.raises(ValueError, match="ARCHIVE_LOCATION"):
        LabelSettings.from_env({})


def test_requests_from_a_schedule_or_an_explicit_range():
    scheduled = EvaluationRequest.from_event(scheduled_event(datetime(2026, 3, 16, 6, tzinfo=UTC)))
    assert scheduled.now == datetime(2026, 3, 16, 6, tzinfo=UTC) and scheduled.start is None
    rerun = EvaluationRequest.from_event({"start": "2026-01-05", "end": "2026-02-16"})
    assert (rerun.start, rerun.end) == (datetime(2026, 1, 5), datetime(2026, 2, 16))
    with pytest.raises(ValueError, match="expected an EventBridge scheduled event"):
        EvaluationRequest.from_event({"detail-type": "Something else"})


def test_s3_keys_are_decoded_and_made_relative_to_the_configured_prefix():
    settings = LabelSettings(archive_location="s3://archive/env-a")
    event = s3_event("archive", ["env-a/labels/week+11%2B.csv", "env-b/labels/x.csv"])
    event["Records"].append(s3_event("other", ["env-a/labels/y.csv"])["Records"][0])
    assert keys_from_s3_event(event, settings) == ["labels/week 11+.csv"]


def test_the_report_says_when_plots_cannot_be_drawn(store, engine, tmp_path, monkeypatch):
    # Given a runtime without matplotlib (as in Lambda)
    monkeypatch.setattr(plots, "_pyplot", lambda: None)
    write_events(tmp_path / "archive", [make_event("p-1", 0.7)])
    # When the job runs
    summary = run_evaluation(
        store,
        engine,
        FixedBaselines({}),
        LocalMetricsPublisher(),
        EvaluationThresholds(),
        now=MONDAY + timedelta(days=7, hours=6),
    )
    # Then the report is written without plots and says why
    assert summary.plots == []
    assert "matplotlib is not installed here" in store.get(summary.report_key).decode()


def test_ingest_and_evaluate_commands_on_local_folders(tmp_path, capsys):
    # Given a local archive with a week of traffic and an outcomes file on the laptop
    archive = tmp_path / "archive"
    write_events(archive, [make_event(f"p-{i}", 0.8 if i % 3 else 0.1) for i in range(30)])
    outcomes = tmp_path / "crm-week-10.csv"
    outcomes.write_bytes(
        label_csv(
            [(f"p-{i}", "yes" if i % 2 else "no", "2026-03-10") for i in range(30)]
            + [("p-x", "unsure", "2026-03-10")]
        )
    )
    # When the file is ingested twice and the week evaluated
    assert main(["ingest-labels", "--archive", str(archive), str(outcomes)]) == 0
    assert main(["ingest-labels", "--archive", str(archive)]) == 0
    assert (
        main(
            [
                "evaluate",
                "--archive",
                str(archive),
                "--registry",
                str(tmp_path / "registry"),
                "--start",
                "2026-03-02",
                "--end",
                "2026-03-09",
                "--no-plots",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    # Then the first ingestion counts rows and rejects, the second recognises the content
    assert "labels/crm-week-10.csv: ingested: 30 accepted, 1 rejected, rejects in outcomes/rejects/" in out
    assert "labels/crm-week-10.csv: already ingested (not counted again)" in out
    # And the week is evaluated with full coverage, and the report's place is printed
    assert "evaluated 1 window(s): 30 predictions, 30 outcomes from 1 file(s)" in out
    assert "2026-03-02" in out and "100%" in out and "report: evaluation/reports/" in out
    # And asking for half a range is refused
    assert main(["evaluate", "--archive", str(archive), "--start", "2026-03-02"]) == 2

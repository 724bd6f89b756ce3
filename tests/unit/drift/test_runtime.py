"""Parsing the drift function's environment and events (bad input gets a clear error)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from propensity.drift.runtime import DriftRequest, DriftSettings
from propensity.policy.drift import DriftThresholds
from propensity.shadow.runtime import ShadowSettings, archive_keys
from tests.events import s3_event, scheduled_event


def test_settings_come_from_the_environment_with_the_stage_thresholds():
    thresholds = DriftThresholds(psi_warning=0.3)
    settings = DriftSettings.from_env(
        {
            "ARCHIVE_LOCATION": "s3://archive",
            "REFERENCES_DIR": "/var/task",
            "DRIFT_THRESHOLDS": thresholds.model_dump_json(),
            "DRIFT_SCHEDULE": '{"settle_minutes": 30}',
        }
    )
    assert settings.thresholds == thresholds
    assert settings.schedule.settle_minutes == 30
    assert settings.registry_location is None and str(settings.references_dir) == "/var/task"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ARCHIVE_LOCATION"),
        ({"ARCHIVE_LOCATION": "s3://a"}, "REFERENCES_DIR or REGISTRY_LOCATION"),
    ],
)
def test_missing_settings_are_named(env, message):
    with pytest.raises(ValueError, match=message):
        DriftSettings.from_env(env)


def test_a_misspelt_threshold_is_refused():
    with pytest.raises(ValueError, match="psi_warnnig"):
        DriftSettings.from_env(
            {"ARCHIVE_LOCATION": "a", "REGISTRY_LOCATION": "r", "DRIFT_THRESHOLDS": '{"psi_warnnig": 0.3}'}
        )


def test_requests_from_eventbridge_and_backfills():
    scheduled = DriftRequest.from_event(scheduled_event(datetime(2026, 11, 26, 10, 20, tzinfo=UTC)))
    assert scheduled.mode == "scheduled" and scheduled.now == datetime(2026, 11, 26, 10, 20, tzinfo=UTC)
    backfill = DriftRequest.from_event({"hours": ["2026-11-26T08", "2026-11-26T09:30"], "force": True})
    assert backfill.hours == [datetime(2026, 11, 26, 8, tzinfo=UTC), datetime(2026, 11, 26, 9, tzinfo=UTC)]
    assert backfill.force
    with pytest.raises(ValueError, match="not an hour"):
        DriftRequest.from_event({"hours": ["yesterday"]})
    with pytest.raises(ValueError, match="non-empty list"):
        DriftRequest.from_event({"hours": []})


def test_shadow_reads_only_created_archive_objects_from_s3_events():
    event = s3_event("archive", ["predictions/2026/11/26/10/a+b.gz", "labels/x.csv"])
    event["Records"].append({**event["Records"][0], "eventName": "ObjectRemoved:Delete"})
    assert archive_keys(event) == ["predictions/2026/11/26/10/a b.gz"]
    settings = ShadowSettings.from_env(
        {
            "ARCHIVE_LOCATION": "s3://a",
            "REGISTRY_LOCATION": "s3://r/p",
            "SHADOW_OPTIONS": '{"check_interval_seconds": 5}',
        }
    )
    assert settings.check_interval_seconds == 5 and settings.metrics_backend == "cloudwatch"

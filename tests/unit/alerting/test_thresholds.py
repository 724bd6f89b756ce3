"""The alarm policy model: defaults from the issue, and windows that CloudWatch can evaluate."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from propensity.policy.alarms import AlarmThresholds


def test_defaults_are_the_on_call_policy():
    t = AlarmThresholds()
    assert (t.error_rate_critical_percent, t.error_rate_critical_minutes) == (5.0, 5)
    assert t.p99_latency_critical_ms == 2000 and t.probe_failures_critical == 3 and t.no_traffic_minutes == 10
    assert (t.error_rate_warning_percent, t.error_rate_warning_minutes) == (1.0, 15)
    assert t.p95_latency_warning_ms == 500 and t.concurrency_warning_percent == 80
    assert t.memory_warning_percent == 90 and t.validation_rate_warning_percent == 5


def test_latency_windows_must_be_whole_periods():
    with pytest.raises(ValidationError, match="multiple of latency_period_minutes"):
        AlarmThresholds(p95_latency_warning_minutes=12)
    assert AlarmThresholds().latency_periods(15) == 3


def test_business_hours_must_be_a_window():
    with pytest.raises(ValidationError, match="before"):
        AlarmThresholds(no_traffic_start_hour_utc=19, no_traffic_end_hour_utc=7)

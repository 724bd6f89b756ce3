"""Operational alarm thresholds (three tiers). Defaults are the on-call policy.

Every number an operational alarm, the synthetic probe or the digest judges by lives here;
the alarm catalogue (infra/constructs/alarms.py) reads them through ``StageConfig.alarms``,
so a stage overrides a value in cdk.json and the alarm, the probe and RUNBOOK.md agree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Percent = Annotated[float, Field(ge=0, le=100)]
Minutes = Annotated[int, Field(ge=1, le=1440)]
Hour = Annotated[int, Field(ge=0, le=24)]


class AlarmThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # critical
    error_rate_critical_percent: Percent = 5.0
    error_rate_critical_minutes: Minutes = 5
    p99_latency_critical_ms: Annotated[float, Field(gt=0)] = 2000.0
    p99_latency_critical_minutes: Minutes = 10
    probe_failures_critical: Annotated[int, Field(ge=1)] = 3
    # One probe run every this many seconds (CloudWatch alarm periods under a minute are 10,
    # 20 or 30 s, on high-resolution metrics): critical after 3 failed runs = 90 s.
    probe_interval_seconds: Literal[10, 20, 30, 60] = 30
    no_traffic_minutes: Minutes = 10
    # Zero traffic is only alarming when consumers are expected to call: between these UTC
    # hours, on weekdays unless ``no_traffic_weekends`` (a bank's CRM is quiet at 3 am).
    # Set start 0 and end 24 to watch around the clock.
    no_traffic_start_hour_utc: Hour = 7
    no_traffic_end_hour_utc: Hour = 19
    no_traffic_weekends: bool = False
    init_failures_critical: Annotated[int, Field(ge=1)] = 1
    # Any alert in the delivery dead-letter queue means someone was not told about something.
    alert_dlq_messages_critical: Annotated[int, Field(ge=1)] = 1
    # warning
    error_rate_warning_percent: Percent = 1.0
    error_rate_warning_minutes: Minutes = 15
    p95_latency_warning_ms: Annotated[float, Field(gt=0)] = 500.0
    p95_latency_warning_minutes: Minutes = 15
    throttles_warning_count: Annotated[int, Field(ge=1)] = 1
    throttles_warning_minutes: Minutes = 5
    concurrency_warning_percent: Percent = 80.0
    concurrency_warning_minutes: Minutes = 10
    memory_warning_percent: Percent = 90.0
    memory_warning_minutes: Minutes = 15
    validation_rate_warning_percent: Percent = 5.0
    validation_rate_warning_minutes: Minutes = 15
    # info
    p95_latency_info_ms: Annotated[float, Field(gt=0)] = 250.0
    p95_latency_info_minutes: Minutes = 30
    unknown_category_info_count: Annotated[int, Field(ge=1)] = 10
    unknown_category_info_minutes: Minutes = 60
    # Traffic outside the anomaly-detection band this many standard deviations wide.
    traffic_anomaly_band_stddev: Annotated[float, Field(gt=0, le=10)] = 3.0
    traffic_anomaly_minutes: Minutes = 30
    # Latency percentiles and the traffic band are evaluated on periods of this length
    # (one-minute percentiles at low traffic are the maximum of a handful of requests: too
    # noisy to page on).
    latency_period_minutes: Minutes = 5
    # synthetic probe: a check fails when a request takes longer than this, or when a golden
    # probability comes back further than this from the bundle's expected value (the API
    # rounds probabilities in JSON, so this is looser than the bundle's own 1e-6).
    probe_latency_budget_ms: Annotated[float, Field(gt=0)] = 1000.0
    probe_probability_tolerance: Annotated[float, Field(gt=0, lt=1)] = 1e-4
    # daily digest
    digest_hour_utc: Annotated[int, Field(ge=0, le=23)] = 8

    @model_validator(mode="after")
    def _windows(self) -> AlarmThresholds:
        if self.no_traffic_start_hour_utc >= self.no_traffic_end_hour_utc:
            raise ValueError("no_traffic_start_hour_utc must be before no_traffic_end_hour_utc")
        for name in (
            "p99_latency_critical_minutes",
            "p95_latency_warning_minutes",
            "p95_latency_info_minutes",
            "traffic_anomaly_minutes",
        ):
            if getattr(self, name) % self.latency_period_minutes:
                raise ValueError(
                    f"{name} must be a multiple of latency_period_minutes ({self.latency_period_minutes})"
                )
        return self

    def latency_periods(self, minutes: int) -> int:
        """How many latency periods make up a window of ``minutes``."""
        return minutes // self.latency_period_minutes

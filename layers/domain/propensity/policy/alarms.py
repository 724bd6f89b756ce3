"""Operational alarm thresholds (three tiers). Defaults are the on-call policy."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Percent = Annotated[float, Field(ge=0, le=100)]


class AlarmThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # critical
    error_rate_critical_percent: Percent = 5.0
    error_rate_critical_minutes: Annotated[int, Field(ge=1)] = 5
    p99_latency_critical_ms: Annotated[float, Field(gt=0)] = 2000.0
    probe_failures_critical: Annotated[int, Field(ge=1)] = 3
    no_traffic_minutes: Annotated[int, Field(ge=1)] = 10
    # warning
    error_rate_warning_percent: Percent = 1.0
    error_rate_warning_minutes: Annotated[int, Field(ge=1)] = 15
    p95_latency_warning_ms: Annotated[float, Field(gt=0)] = 500.0
    concurrency_warning_percent: Percent = 80.0
    concurrency_warning_minutes: Annotated[int, Field(ge=1)] = 10
    memory_warning_percent: Percent = 90.0
    validation_rate_warning_percent: Percent = 5.0
    # info
    p95_latency_info_ms: Annotated[float, Field(gt=0)] = 250.0
    unknown_category_info_count: Annotated[int, Field(ge=1)] = 10

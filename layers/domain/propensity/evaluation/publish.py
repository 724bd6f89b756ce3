"""What the evaluation job publishes as metrics, built for the monitoring jobs' shared publisher.

The publisher interface and its local and CloudWatch backends are the drift job's
(``propensity.drift.publish``): one way to publish gauges with their own timestamps.
Every figure here is a gauge for the run (read with Maximum or Average, never Sum).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from propensity.drift.publish import (
    CloudWatchMetricsPublisher,
    LocalMetricsPublisher,
    MetricPoint,
    MetricsPublisher,
)
from propensity.evaluation import metric_names as names
from propensity.evaluation.models import GroupResult

__all__ = [
    "CloudWatchMetricsPublisher",
    "LocalMetricsPublisher",
    "MetricPoint",
    "MetricsPublisher",
    "metric_data",
    "metric_lines",
]


def _judged_data(result: GroupResult, at: datetime) -> list[MetricPoint]:
    dims = {names.DIMENSION_API: result.api_version, names.DIMENSION_MODEL: result.model_version}
    realised, business, signals = result.realised, result.business, result.signals
    if realised is None or business is None:
        return []
    values: dict[str, float | None] = {
        names.F1: realised.f1,
        names.PRECISION: realised.precision,
        names.RECALL: realised.recall,
        names.ROC_AUC: realised.roc_auc,
        names.PR_AUC: realised.pr_auc,
        names.BRIER: realised.brier,
        names.CALIBRATION_ERROR: realised.ece,
        names.CONVERSION_RATE: business.conversion_rate,
        names.UNEXPECTED_SUBSCRIBER_RATE: business.unexpected_subscriber_rate,
        names.NET_RETURN_EUR: business.net_return_eur,
        names.LABEL_COVERAGE: result.coverage.share,
        names.F1_DROP: signals.f1_drop_relative,
        names.CONVERSION_DROP: signals.conversion_drop_relative,
    }
    return [
        MetricPoint(name=n, value=float(v), dimensions=dims, timestamp=at)
        for n, v in values.items()
        if v is not None
    ]


def _estimated_data(result: GroupResult, at: datetime) -> list[MetricPoint]:
    dims = {names.DIMENSION_API: result.api_version, names.DIMENSION_MODEL: result.model_version}
    est = result.estimated
    values: dict[str, float | None] = {
        names.ESTIMATED_F1: est.f1,
        names.ESTIMATED_PRECISION: est.precision,
        names.ESTIMATED_RECALL: est.recall,
        names.ESTIMATED_ROC_AUC: est.roc_auc,
        names.ESTIMATED_NET_RETURN_EUR: est.net_return_eur,
        names.ESTIMATE_TRUSTED: 1.0 if est.trust == "trusted" else 0.0,
        names.NEWEST_LABEL_COVERAGE: result.coverage.share,
    }
    return [
        MetricPoint(name=n, value=float(v), dimensions=dims, timestamp=at)
        for n, v in values.items()
        if v is not None
    ]


def _alarm_data(judged: Sequence[GroupResult], at: datetime) -> list[MetricPoint]:
    """Per API version: the worst value over the models of its latest judged window."""
    data: list[MetricPoint] = []
    for api in sorted({r.api_version for r in judged}):
        mine = [r for r in judged if r.api_version == api]
        latest = max(r.window.start for r in mine)
        current = [r for r in mine if r.window.start == latest]
        worst: dict[str, float | None] = {
            names.F1_DROP: _max(r.signals.f1_drop_relative for r in current),
            names.CONVERSION_DROP: _max(r.signals.conversion_drop_relative for r in current),
            names.CALIBRATION_ERROR: _max(r.signals.ece for r in current),
        }
        data.extend(
            MetricPoint(name=n, value=v, dimensions={names.DIMENSION_API: api}, timestamp=at)
            for n, v in worst.items()
            if v is not None
        )
    return data


def _max(values: Iterable[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return max(present) if present else None


def metric_data(results: Sequence[GroupResult], at: datetime) -> list[MetricPoint]:
    """What a run publishes: per model the latest judged window and the newest window's
    estimate, and per API version the alarm metrics."""
    judged_latest: dict[tuple[str, str], GroupResult] = {}
    newest: dict[tuple[str, str], GroupResult] = {}
    for result in sorted(results, key=lambda r: r.window.start):
        key = (result.api_version, result.model_version)
        newest[key] = result
        if result.signals.judged:
            judged_latest[key] = result
    data: list[MetricPoint] = []
    for result in judged_latest.values():
        data.extend(_judged_data(result, at))
    for result in newest.values():
        data.extend(_estimated_data(result, at))
    data.extend(_alarm_data(list(judged_latest.values()), at))
    return data


def metric_lines(data: Sequence[MetricPoint]) -> list[str]:
    """Human-readable lines (the local command prints them)."""
    return [f"{d.name} {json.dumps(d.dimensions, sort_keys=True)} = {d.value:.4f}" for d in data]

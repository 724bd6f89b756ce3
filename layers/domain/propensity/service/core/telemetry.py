"""Per-request metrics, collected while serving and published once, as EMF.

Collecting into a plain object and publishing at the end keeps the shared Powertools
``metrics`` untouched while a request is in flight (the local server interleaves requests
of both versions), and keeps the serving path to one ``add_metric`` per name.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from propensity.constants import ApiVersion
from propensity.observability import metrics
from propensity.service import metric_names as names
from propensity.service.settings import MetricsFlush

UNLOADED_MODEL = "none"


@dataclass
class RequestMetrics:
    """Everything one request contributes to the metrics."""

    api_version: ApiVersion
    model_version: str = UNLOADED_MODEL
    started: float = field(default_factory=time.perf_counter)
    phases_ms: dict[str, float] = field(default_factory=dict)
    probabilities: list[float] = field(default_factory=list)
    decisions: Counter[str] = field(default_factory=Counter)
    confidence: Counter[str] = field(default_factory=Counter)
    invalid_fields: Counter[str] = field(default_factory=Counter)
    unknown_categories: Counter[str] = field(default_factory=Counter)
    invalid_records: int = 0
    batch_size: int | None = None
    rejected: str | None = None
    server_error: bool = False
    consumer: str = "unknown"  # v1 only: the V1Calls metric's Consumer dimension (bounded)

    def scored(self, probabilities: Iterable[float], decisions: Iterable[str], bands: Iterable[str]) -> None:
        """Record the scored records of this request."""
        self.probabilities.extend(probabilities)
        self.decisions.update(decisions)
        self.confidence.update(bands)

    def invalid(self, fields: Iterable[str]) -> None:
        """Record offending fields (already mapped to ``metric_names.VALIDATION_FIELDS``)."""
        self.invalid_fields.update(fields)


class Telemetry:
    """Publishes ``RequestMetrics`` through the shared Powertools ``metrics``.

    ``invocation``: leave the flush to ``log_metrics`` around the Lambda handler (one request
    per invocation). ``request``: flush after each request (a long-running server).
    ``off``: record nothing (local runs that have no CloudWatch to send EMF to).
    """

    def __init__(self, flush: MetricsFlush) -> None:
        self.flush = flush

    def publish(self, request: RequestMetrics) -> None:
        if self.flush == "off":
            return
        if request.api_version == "v1":
            # Its own EMF blob: Consumer must not become a dimension of every other metric.
            with single_metric(
                name=names.V1_CALLS,
                unit=MetricUnit.Count,
                value=1,
                namespace=metrics.namespace,
                default_dimensions={names.DIMENSION_CONSUMER: request.consumer},
            ):
                pass
        metrics.add_dimensions(**{names.DIMENSION_API: request.api_version})
        metrics.add_dimensions(
            **{names.DIMENSION_API: request.api_version, names.DIMENSION_MODEL: request.model_version}
        )
        ms = MetricUnit.Milliseconds
        for phase, value in request.phases_ms.items():
            metrics.add_metric(name=names.PHASE_LATENCY[phase], unit=ms, value=value)
        metrics.add_metric(
            name=names.REQUEST_LATENCY, unit=ms, value=(time.perf_counter() - request.started) * 1000
        )
        count = MetricUnit.Count
        if request.rejected is not None:
            metrics.add_metric(name=names.REJECTED_REQUESTS, unit=count, value=1)
            metrics.add_metric(name=names.rejected_metric(request.rejected), unit=count, value=1)
        if request.server_error:
            metrics.add_metric(name=names.SERVER_ERRORS, unit=count, value=1)
        if request.invalid_fields:
            metrics.add_metric(
                name=names.VALIDATION_ERRORS, unit=count, value=sum(request.invalid_fields.values())
            )
            for name, n in request.invalid_fields.items():
                metrics.add_metric(name=names.validation_error_metric(name), unit=count, value=n)
        if request.invalid_records:
            metrics.add_metric(name=names.INVALID_RECORDS, unit=count, value=request.invalid_records)
        if request.unknown_categories:
            metrics.add_metric(
                name=names.UNKNOWN_CATEGORIES, unit=count, value=sum(request.unknown_categories.values())
            )
            for name, n in request.unknown_categories.items():
                metrics.add_metric(name=names.unknown_category_metric(name), unit=count, value=n)
        if request.batch_size is not None:
            metrics.add_metric(name=names.BATCH_SIZE, unit=count, value=request.batch_size)
        if request.probabilities:
            metrics.add_metric(name=names.PREDICTIONS, unit=count, value=len(request.probabilities))
            for decision, metric in names.DECISION_COUNT.items():
                metrics.add_metric(name=metric, unit=count, value=request.decisions.get(decision, 0))
            for band, metric in names.CONFIDENCE_COUNT.items():
                metrics.add_metric(name=metric, unit=count, value=request.confidence.get(band, 0))
            metrics.add_metric(
                name=names.PROBABILITY_SUM, unit=MetricUnit.NoUnit, value=float(sum(request.probabilities))
            )
        if self.flush == "request":
            metrics.flush_metrics()

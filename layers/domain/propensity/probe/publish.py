"""Turn a probe run into metrics (what the alarm and the dashboard read) and a log line."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricResolution, MetricUnit, single_metric

from propensity.alerting.http import request_json
from propensity.alerting.secrets import SecretError, SecretStore
from propensity.bundle.golden import GoldenSet
from propensity.constants import ApiVersion
from propensity.observability import logger, metrics
from propensity.probe.metrics import (
    CHECK_DIMENSION,
    PROBE_CHECK_SUCCESS,
    PROBE_LATENCY,
    PROBE_REQUESTS,
    PROBE_SUCCESS,
)
from propensity.probe.runner import CheckResult, Http, ProbeReport, run_probe
from propensity.probe.settings import ProbeSettings


def publish_probe_metrics(report: ProbeReport) -> None:
    """ProbeSuccess and ProbeRequests for the run; per check, success and the slowest latency.

    The run-level metrics go into the handler's metric set (flushed by ``log_metrics``);
    per-check ones need a dimension of their own, so each is its own EMF document.
    """
    # High resolution: the alarm judges 30-second periods, one run each (standard-resolution
    # data is aggregated per minute, and a 30 s alarm on it would see no data at all).
    high = MetricResolution.High
    metrics.add_metric(
        name=PROBE_SUCCESS, unit=MetricUnit.Count, value=1 if report.ok else 0, resolution=high
    )
    metrics.add_metric(name=PROBE_REQUESTS, unit=MetricUnit.Count, value=report.requests, resolution=high)
    dimensions = {"service": str(metrics.service)} if metrics.service else None
    for check, results in report.checks().items():
        values = [
            (PROBE_CHECK_SUCCESS, MetricUnit.Count, 1.0 if all(r.ok for r in results) else 0.0),
            (PROBE_LATENCY, MetricUnit.Milliseconds, max((r.latency_ms or 0.0) for r in results)),
        ]
        for name, unit, value in values:
            with single_metric(
                name=name, unit=unit, value=value, namespace=metrics.namespace, default_dimensions=dimensions
            ) as metric:
                metric.add_dimension(name=CHECK_DIMENSION, value=check)


def probe_once(
    settings: ProbeSettings,
    goldens: dict[ApiVersion, GoldenSet],
    secrets: SecretStore,
    *,
    http: Http = request_json,
    now: datetime | None = None,
) -> ProbeReport:
    """Run the probe, publish its metrics, log what failed, return the report."""
    try:
        api_key = secrets.get(settings.api_key_secret) if settings.api_key_secret else None
    except SecretError as error:
        # Without its key every request would be a 403: report that cause, not 3 × N symptoms.
        report = ProbeReport(
            started_at=now or datetime.now(UTC),
            api_url=settings.api_url,
            results=[CheckResult(check="health", case="api-key", ok=False, problems=[str(error)])],
        )
    else:
        report = run_probe(settings, goldens, api_key=api_key, http=http, now=now)
    publish_probe_metrics(report)
    if report.ok:
        logger.info(
            "probe passed",
            extra={"requests": report.requests, "slowest_ms": max(r.latency_ms or 0 for r in report.results)},
        )
    else:
        logger.error(
            "probe failed", extra={"failures": [f.model_dump(mode="json") for f in report.failures()]}
        )
    return report

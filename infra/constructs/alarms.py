"""The operational alarm catalogue: every alarm defined once, here, with its tier.

``alarm_catalogue`` is the table (what is watched, threshold and window from
``StageConfig.alarms``, tier, OK action, missing-data treatment, runbook anchor);
``OperationalAlarms`` turns it into CloudWatch alarms wired to the tier topics. Each
description ends with ``[tier: ...] Runbook: RUNBOOK.md#<anchor>`` (``propensity.alerting.
description``), which the notifiers turn into links. RUNBOOK.md has one entry per anchor.

Missing data, deliberately:
- breaching where silence is the failure (the probe not reporting, no traffic at all);
- not breaching where silence means nothing happened (no errors, no throttles, no requests to
  time), so a quiet night does not page anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from propensity.alerting.description import describe_alarm
from propensity.alerting.signals import (
    API_5XX,
    API_LATENCY,
    API_REQUESTS,
    LAMBDA_CONCURRENCY,
    LAMBDA_THROTTLES,
    Deployment,
    MetricId,
)
from propensity.alerting.tiers import Tier
from propensity.constants import ApiVersion
from propensity.policy.alarms import AlarmThresholds
from propensity.probe.metrics import PROBE_REQUESTS, PROBE_SUCCESS
from propensity.service import metric_names as service_names

Comparison = cloudwatch.ComparisonOperator
Missing = cloudwatch.TreatMissingData

# Log lines that mean a prediction function could not start: the Lambda runtime's own init
# failure report and import errors, and the service's marker when the model bundle fails to
# load (the app then answers 503, so Lambda itself sees no error).
INIT_FAILURE_PATTERN = logs.FilterPattern.any_term(
    "Status: error",  # INIT_REPORT ... Phase: init Status: error Error Type: ...
    "Runtime.ImportModuleError",
    "Runtime.ExitError",
    "model load failed",  # propensity.service.core.runtime logs this when a bundle cannot be loaded
)
# The Lambda platform's REPORT line (text log format):
# REPORT RequestId: <id> Duration: 2.08 ms Billed Duration: 3 ms Memory Size: 1024 MB Max Memory Used: 80 MB
REPORT_LINE_PATTERN = logs.FilterPattern.space_delimited(
    "type",
    "request_id_label",
    "request_id",
    "duration_label",
    "duration",
    "duration_unit",
    "billed_label1",
    "billed_label2",
    "billed_duration",
    "billed_unit",
    "memory_label1",
    "memory_label2",
    "memory_size",
    "memory_unit",
    "max_label1",
    "max_label2",
    "max_label3",
    "max_memory_used",
    "max_memory_unit",
    "...",  # "Init Duration: ... ms" on cold starts, restore figures with SnapStart
).where_string("type", "=", "REPORT")


def metric(identity: MetricId, period: cdk.Duration, label: str | None = None) -> cloudwatch.Metric:
    """A CloudWatch metric from the library's metric identity (one definition of each name)."""
    return cloudwatch.Metric(
        namespace=identity.namespace,
        metric_name=identity.name,
        dimensions_map=dict(identity.dimensions),
        statistic=identity.stat,
        period=period,
        label=label,
    )


@dataclass(frozen=True)
class AlarmSpec:
    """One row of the catalogue."""

    key: str  # unique; the alarm is named <prefix>-<key>
    anchor: str  # its RUNBOOK.md entry (alarms per API version share one)
    tier: Tier
    summary: str  # what it means, with its threshold, in words
    metric: cloudwatch.IMetric
    threshold: float
    comparison: cloudwatch.ComparisonOperator
    missing: cloudwatch.TreatMissingData
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    ok_action: bool = True
    # Anomaly-detection band width (standard deviations); ``threshold`` is then unused.
    band_std_devs: float | None = None


@dataclass(frozen=True)
class Watched:
    """What the catalogue watches, by the names CloudWatch knows it by."""

    deployment: Deployment
    memory_mb: int
    reserved_concurrency: int
    probe_schedule_minutes: int
    init_failures: dict[ApiVersion, MetricId]
    max_memory_used: dict[ApiVersion, MetricId]
    validation_errors: MetricId  # count of HTTP 422 answers (API access log)
    unknown_categories: MetricId  # unknown categorical values accepted by v2
    dead_letter_queue_depth: MetricId


def unknown_categories_total(deployment: Deployment) -> MetricId:
    """Unknown categorical values accepted by v2 (the service's EMF count, all fields)."""
    return deployment.custom(service_names.UNKNOWN_CATEGORIES, {service_names.DIMENSION_API: "v2"})


def _minutes(n: int) -> cdk.Duration:
    return cdk.Duration.minutes(n)


def _no_traffic_expression(t: AlarmThresholds) -> str:
    consumers = "FILL(requests, 0) - FILL(probe, 0)"
    conditions = []
    if not t.no_traffic_weekends:
        conditions.append("DAY(probe) <= 5")  # 1 = Monday ... 7 = Sunday
    if t.no_traffic_start_hour_utc > 0:
        conditions.append(f"HOUR(probe) >= {t.no_traffic_start_hour_utc}")
    if t.no_traffic_end_hour_utc < 24:
        conditions.append(f"HOUR(probe) < {t.no_traffic_end_hour_utc}")
    if not conditions:
        return consumers
    # Outside the watched hours the series reads 1 (one request): never below the threshold.
    return f"IF({' AND '.join(conditions)}, {consumers}, 1)"


def alarm_catalogue(w: Watched, t: AlarmThresholds) -> list[AlarmSpec]:
    """Every operational alarm, its tier and its thresholds (from ``t``)."""
    d = w.deployment
    minute = _minutes(1)
    latency_period = _minutes(t.latency_period_minutes)
    specs: list[AlarmSpec] = []

    def error_rate() -> cloudwatch.MathExpression:
        # 5XXError's average per period is the share of requests that got a 5xx.
        return cloudwatch.MathExpression(
            expression="100 * errors",
            using_metrics={"errors": metric(d.api(API_5XX, "Average"), minute)},
            label="5xx rate (%)",
            period=minute,
        )

    # critical --------------------------------------------------------------------------------
    specs.append(
        AlarmSpec(
            key="api-5xx-critical",
            anchor="api-5xx-critical",
            tier="critical",
            summary=f"More than {t.error_rate_critical_percent:g}% of API requests answered 5xx in each of "
            f"{t.error_rate_critical_minutes} consecutive minutes",
            metric=error_rate(),
            threshold=t.error_rate_critical_percent,
            comparison=Comparison.GREATER_THAN_THRESHOLD,
            missing=Missing.NOT_BREACHING,
            evaluation_periods=t.error_rate_critical_minutes,
            datapoints_to_alarm=t.error_rate_critical_minutes,
        )
    )
    specs.append(
        AlarmSpec(
            key="latency-p99-critical",
            anchor="latency-p99-critical",
            tier="critical",
            summary=f"API p99 latency above {t.p99_latency_critical_ms:g} ms "
            f"for {t.p99_latency_critical_minutes} minutes",
            metric=metric(d.api(API_LATENCY, "p99"), latency_period, "p99 latency (ms)"),
            threshold=t.p99_latency_critical_ms,
            comparison=Comparison.GREATER_THAN_THRESHOLD,
            missing=Missing.NOT_BREACHING,
            evaluation_periods=t.latency_periods(t.p99_latency_critical_minutes),
        )
    )
    if d.probe_service:
        # One run per period (high-resolution metric): 3 failed periods = 3 failed runs in a row.
        probe_period = cdk.Duration.seconds(t.probe_interval_seconds)
        probe = {"service": d.probe_service}
        specs.append(
            AlarmSpec(
                key="probe-failing-critical",
                anchor="probe-failing-critical",
                tier="critical",
                summary=f"The synthetic probe (/health, /v1/predict, /v2/predict with golden requests) "
                f"failed {t.probe_failures_critical} runs in a row, or stopped reporting",
                metric=metric(
                    d.custom(PROBE_SUCCESS, probe, "Minimum"), probe_period, "probe success (1 = pass)"
                ),
                threshold=1,
                comparison=Comparison.LESS_THAN_THRESHOLD,
                missing=Missing.BREACHING,
                evaluation_periods=t.probe_failures_critical,
                datapoints_to_alarm=t.probe_failures_critical,
            )
        )
        window = _minutes(t.no_traffic_minutes)
        hours = (
            "around the clock"
            if (t.no_traffic_start_hour_utc, t.no_traffic_end_hour_utc) == (0, 24)
            else f"between {t.no_traffic_start_hour_utc:02d}:00 and {t.no_traffic_end_hour_utc:02d}:00 UTC"
        )
        days = "every day" if t.no_traffic_weekends else "on weekdays"
        specs.append(
            AlarmSpec(
                key="no-traffic-critical",
                anchor="no-traffic-critical",
                tier="critical",
                summary=f"No consumer request (probe traffic excluded) for {t.no_traffic_minutes} minutes, "
                f"watched {hours} {days}",
                metric=cloudwatch.MathExpression(
                    expression=_no_traffic_expression(t),
                    using_metrics={
                        "requests": metric(d.api(API_REQUESTS), window),
                        "probe": metric(d.custom(PROBE_REQUESTS, probe, "Sum"), window),
                    },
                    label="consumer requests",
                    period=window,
                ),
                threshold=1,
                comparison=Comparison.LESS_THAN_THRESHOLD,
                missing=Missing.BREACHING,
            )
        )
    for api in sorted(w.init_failures):
        specs.append(
            AlarmSpec(
                key=f"init-failure-critical-{api}",
                anchor="init-failure-critical",
                tier="critical",
                summary=f"The {api} prediction function failed to initialise (model not loaded, import or "
                f"init error) at least {t.init_failures_critical} time(s) in a minute",
                metric=metric(w.init_failures[api], minute, f"{api} init failures"),
                threshold=t.init_failures_critical,
                comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                missing=Missing.NOT_BREACHING,
            )
        )
    specs.append(
        AlarmSpec(
            key="alert-dlq-critical",
            anchor="alert-dlq-critical",
            tier="critical",
            summary=f"At least {t.alert_dlq_messages_critical} alert could not be delivered and sits in the "
            f"alert dead-letter queue",
            metric=metric(w.dead_letter_queue_depth, minute, "undelivered alerts"),
            threshold=t.alert_dlq_messages_critical,
            comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            missing=Missing.NOT_BREACHING,
        )
    )

    # warning ---------------------------------------------------------------------------------
    specs.append(
        AlarmSpec(
            key="api-5xx-warning",
            anchor="api-5xx-warning",
            tier="warning",
            summary=f"More than {t.error_rate_warning_percent:g}% of API requests answered 5xx in each of "
            f"{t.error_rate_warning_minutes} consecutive minutes",
            metric=error_rate(),
            threshold=t.error_rate_warning_percent,
            comparison=Comparison.GREATER_THAN_THRESHOLD,
            missing=Missing.NOT_BREACHING,
            evaluation_periods=t.error_rate_warning_minutes,
            datapoints_to_alarm=t.error_rate_warning_minutes,
        )
    )
    specs.append(
        AlarmSpec(
            key="latency-p95-warning",
            anchor="latency-p95-warning",
            tier="warning",
            summary=f"API p95 latency above {t.p95_latency_warning_ms:g} ms "
            f"for {t.p95_latency_warning_minutes} minutes",
            metric=metric(d.api(API_LATENCY, "p95"), latency_period, "p95 latency (ms)"),
            threshold=t.p95_latency_warning_ms,
            comparison=Comparison.GREATER_THAN_THRESHOLD,
            missing=Missing.NOT_BREACHING,
            evaluation_periods=t.latency_periods(t.p95_latency_warning_minutes),
        )
    )
    concurrency_limit = w.reserved_concurrency * t.concurrency_warning_percent / 100
    memory_limit = w.memory_mb * t.memory_warning_percent / 100
    for api in sorted(d.functions):
        specs.append(
            AlarmSpec(
                key=f"throttles-warning-{api}",
                anchor="throttles-warning",
                tier="warning",
                summary=f"The {api} prediction function was throttled at least "
                f"{t.throttles_warning_count} time(s) in {t.throttles_warning_minutes} minutes",
                metric=metric(d.function(api, LAMBDA_THROTTLES), _minutes(t.throttles_warning_minutes)),
                threshold=t.throttles_warning_count,
                comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                missing=Missing.NOT_BREACHING,
            )
        )
        specs.append(
            AlarmSpec(
                key=f"concurrency-warning-{api}",
                anchor="concurrency-warning",
                tier="warning",
                summary=f"The {api} prediction function used more than "
                f"{t.concurrency_warning_percent:g}% of its reserved concurrency "
                f"({concurrency_limit:g} of {w.reserved_concurrency}) for "
                f"{t.concurrency_warning_minutes} minutes",
                metric=metric(d.function(api, LAMBDA_CONCURRENCY, "Maximum"), minute),
                threshold=concurrency_limit,
                comparison=Comparison.GREATER_THAN_THRESHOLD,
                missing=Missing.NOT_BREACHING,
                evaluation_periods=t.concurrency_warning_minutes,
                datapoints_to_alarm=t.concurrency_warning_minutes,
            )
        )
        specs.append(
            AlarmSpec(
                key=f"memory-warning-{api}",
                anchor="memory-warning",
                tier="warning",
                summary=f"An invocation of the {api} prediction function used more than "
                f"{t.memory_warning_percent:g}% of its {w.memory_mb} MB ({memory_limit:g} MB) in "
                f"{t.memory_warning_minutes} minutes",
                metric=metric(
                    w.max_memory_used[api], _minutes(t.memory_warning_minutes), f"{api} max memory (MB)"
                ),
                threshold=memory_limit,
                comparison=Comparison.GREATER_THAN_THRESHOLD,
                missing=Missing.NOT_BREACHING,
            )
        )
    validation_window = _minutes(t.validation_rate_warning_minutes)
    specs.append(
        AlarmSpec(
            key="validation-rate-warning",
            anchor="validation-rate-warning",
            tier="warning",
            summary=f"More than {t.validation_rate_warning_percent:g}% of API requests were refused with 422 "
            f"over {t.validation_rate_warning_minutes} minutes (a consumer's data changed format?)",
            metric=cloudwatch.MathExpression(
                expression="IF(requests > 0, 100 * FILL(invalid, 0) / requests, 0)",
                using_metrics={
                    "invalid": metric(w.validation_errors, validation_window),
                    "requests": metric(d.api(API_REQUESTS), validation_window),
                },
                label="422 rate (%)",
                period=validation_window,
            ),
            threshold=t.validation_rate_warning_percent,
            comparison=Comparison.GREATER_THAN_THRESHOLD,
            missing=Missing.NOT_BREACHING,
        )
    )

    # info ------------------------------------------------------------------------------------
    specs.append(
        AlarmSpec(
            key="latency-p95-info",
            anchor="latency-p95-info",
            tier="info",
            summary=f"API p95 latency above {t.p95_latency_info_ms:g} ms "
            f"for {t.p95_latency_info_minutes} minutes (an early, smaller increase)",
            metric=metric(d.api(API_LATENCY, "p95"), latency_period, "p95 latency (ms)"),
            threshold=t.p95_latency_info_ms,
            comparison=Comparison.GREATER_THAN_THRESHOLD,
            missing=Missing.NOT_BREACHING,
            evaluation_periods=t.latency_periods(t.p95_latency_info_minutes),
            ok_action=False,
        )
    )
    specs.append(
        AlarmSpec(
            key="traffic-anomaly-info",
            anchor="traffic-anomaly-info",
            tier="info",
            summary=f"API traffic outside its usual band "
            f"({t.traffic_anomaly_band_stddev:g} standard deviations, anomaly detection) "
            f"for {t.traffic_anomaly_minutes} minutes",
            metric=metric(d.api(API_REQUESTS), latency_period, "requests"),
            threshold=0,
            comparison=Comparison.LESS_THAN_LOWER_OR_GREATER_THAN_UPPER_THRESHOLD,
            missing=Missing.NOT_BREACHING,
            evaluation_periods=t.latency_periods(t.traffic_anomaly_minutes),
            ok_action=False,
            band_std_devs=t.traffic_anomaly_band_stddev,
        )
    )
    unknown_window = _minutes(t.unknown_category_info_minutes)
    unknown = metric(w.unknown_categories, unknown_window, "unknown categorical values")
    specs.append(
        AlarmSpec(
            key="unknown-categories-info",
            anchor="unknown-categories-info",
            tier="info",
            summary=f"v2 accepted at least {t.unknown_category_info_count} unknown categorical values in "
            f"{t.unknown_category_info_minutes} minutes (consumers send categories the model never saw)",
            metric=unknown,
            threshold=t.unknown_category_info_count,
            comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            missing=Missing.NOT_BREACHING,
            ok_action=False,
        )
    )
    return specs


class OperationalAlarms(Construct):
    """Creates every alarm of a catalogue on its tier's topic. Exposes ``alarms`` by key and ``specs``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        specs: Sequence[AlarmSpec],
        topics: dict[Tier, sns.ITopic],
        runbook_url: str,
        extra_actions: dict[str, list[sns.ITopic]] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        keys = [spec.key for spec in specs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"alarm keys must be unique: {sorted(k for k in keys if keys.count(k) > 1)}")
        self.specs = list(specs)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for spec in specs:
            name = f"{name_prefix}-{spec.key}"
            description = describe_alarm(
                summary=spec.summary, tier=spec.tier, runbook_url=runbook_url, anchor=spec.anchor
            )
            construct_id_ = "".join(part.capitalize() for part in spec.key.split("-"))
            alarm: cloudwatch.Alarm
            if spec.band_std_devs is not None:
                alarm = cloudwatch.AnomalyDetectionAlarm(
                    self,
                    construct_id_,
                    alarm_name=name,
                    alarm_description=description,
                    metric=spec.metric,
                    std_devs=spec.band_std_devs,
                    comparison_operator=spec.comparison,
                    evaluation_periods=spec.evaluation_periods,
                    datapoints_to_alarm=spec.datapoints_to_alarm,
                    treat_missing_data=spec.missing,
                )
            else:
                alarm = cloudwatch.Alarm(
                    self,
                    construct_id_,
                    alarm_name=name,
                    alarm_description=description,
                    metric=spec.metric,
                    threshold=spec.threshold,
                    comparison_operator=spec.comparison,
                    evaluation_periods=spec.evaluation_periods,
                    datapoints_to_alarm=spec.datapoints_to_alarm,
                    treat_missing_data=spec.missing,
                )
            for topic in [topics[spec.tier], *(extra_actions or {}).get(spec.key, [])]:
                action = cloudwatch_actions.SnsAction(topic)
                alarm.add_alarm_action(action)
                if spec.ok_action:
                    alarm.add_ok_action(action)
            self.alarms[spec.key] = alarm

"""The operations dashboard, as code: one screen an on-call engineer reads top to bottom.

Rows: alarm states; traffic and status codes; latency (API percentiles, then per serving
phase); errors, throttles, concurrency and memory per API version; the synthetic probe; the
prediction mix and mean probability per version; validation errors by field and unknown
categories; v1 calls by consumer. Every metric comes from the same identities the alarms and the digest use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.constructs.alarms import metric
from propensity.alerting.signals import (
    API_4XX,
    API_5XX,
    API_INTEGRATION_LATENCY,
    API_LATENCY,
    API_REQUESTS,
    LAMBDA_CONCURRENCY,
    LAMBDA_DURATION,
    LAMBDA_ERRORS,
    LAMBDA_INVOCATIONS,
    LAMBDA_THROTTLES,
    Deployment,
    MetricId,
)
from propensity.constants import ApiVersion
from propensity.probe.metrics import CHECK_DIMENSION, PROBE_CHECK_SUCCESS, PROBE_LATENCY, PROBE_SUCCESS
from propensity.service import metric_names as names
from propensity.service.core.consumers import UNKNOWN_CONSUMER

MINUTE = cdk.Duration.minutes(1)
FIVE_MINUTES = cdk.Duration.minutes(5)
WIDTH = 24


@dataclass(frozen=True)
class ServiceMetrics:
    """What the prediction service publishes (EMF), by API version, for the model rows."""

    phase_latency: dict[ApiVersion, dict[str, MetricId]] = field(default_factory=dict)  # phase -> metric
    prediction_mix: dict[ApiVersion, dict[str, MetricId]] = field(default_factory=dict)  # decision -> count
    # (sum of probabilities, number of predictions): their ratio is the exact mean over any period.
    mean_probability: dict[ApiVersion, tuple[MetricId, MetricId]] = field(default_factory=dict)
    validation_errors_by_field: dict[str, MetricId] = field(default_factory=dict)  # "<api> <field>" -> count
    unknown_categories_by_field: dict[str, MetricId] = field(default_factory=dict)
    # consumer name (the stage's consumers and "unknown") -> V1Calls: who still calls v1.
    v1_calls_by_consumer: dict[str, MetricId] = field(default_factory=dict)


def service_metrics(deployment: Deployment, consumers: Sequence[str] = ()) -> ServiceMetrics:
    """The service's EMF metrics under their stable ``[ApiVersion]`` dimension set.

    ``consumers`` (the stage's consumer names) bound the ``V1Calls`` series, with ``unknown``.
    """
    apis = sorted(deployment.functions)

    def per(api: ApiVersion, name: str, stat: str = "Sum") -> MetricId:
        return deployment.custom(name, {names.DIMENSION_API: api}, stat)

    return ServiceMetrics(
        phase_latency={
            api: {phase: per(api, metric_name, "p99") for phase, metric_name in names.PHASE_LATENCY.items()}
            for api in apis
        },
        prediction_mix={
            api: {decision: per(api, metric_name) for decision, metric_name in names.DECISION_COUNT.items()}
            for api in apis
        },
        mean_probability={
            api: (per(api, names.PROBABILITY_SUM), per(api, names.PREDICTIONS)) for api in apis
        },
        validation_errors_by_field={
            f"{api} {field_name}": per(api, names.validation_error_metric(field_name))
            for api in apis
            for field_name in names.VALIDATION_FIELDS[api]
        },
        unknown_categories_by_field={
            field_name: per("v2", names.unknown_category_metric(field_name))
            for field_name in names.CATEGORICAL_FIELDS
        }
        if "v2" in apis
        else {},
        v1_calls_by_consumer={
            name: deployment.custom(names.V1_CALLS, {names.DIMENSION_CONSUMER: name})
            for name in [*consumers, UNKNOWN_CONSUMER]
        }
        if "v1" in apis
        else {},
    )


def _graph(
    title: str,
    metrics: Sequence[cloudwatch.IMetric],
    *,
    width: int = 8,
    unit: str = "",
    right: Sequence[cloudwatch.IMetric] = (),
    annotations: Sequence[cloudwatch.HorizontalAnnotation] = (),
    stacked: bool = False,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=list(metrics),
        right=list(right),
        width=width,
        height=6,
        stacked=stacked,
        left_y_axis=cloudwatch.YAxisProps(label=unit, show_units=False, min=0) if unit else None,
        left_annotations=list(annotations) or None,
    )


class OperationsDashboard(Construct):
    """Exposes ``dashboard`` and ``url``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        deployment: Deployment,
        alarms: Sequence[cloudwatch.IAlarm],
        thresholds: dict[str, float],
        reserved_concurrency: int,
        memory_mb: int,
        max_memory_used: dict[ApiVersion, MetricId],
        validation_errors: MetricId,
        service: ServiceMetrics,
    ) -> None:
        super().__init__(scope, construct_id)
        d = deployment
        apis = sorted(d.functions)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=cdk.Duration.hours(6),
            period_override=cloudwatch.PeriodOverride.AUTO,
        )
        region = cdk.Stack.of(self).region
        self.url = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={dashboard_name}"

        def line(label: str, value: float, color: str = "#d62728") -> cloudwatch.HorizontalAnnotation:
            return cloudwatch.HorizontalAnnotation(value=value, label=label, color=color)

        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    f"# Propensity {d.stage}: operations\n"
                    "Alarms link their RUNBOOK.md entry. critical pages, warning posts to Slack, info goes "
                    "to the daily digest."
                ),
                width=WIDTH,
                height=2,
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=list(alarms),
                width=WIDTH,
                height=4,
                sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
            )
        )

        # Traffic and status codes
        self.dashboard.add_widgets(
            _graph("Requests per minute", [metric(d.api(API_REQUESTS), MINUTE, "requests")], unit="requests"),
            _graph(
                "Status codes per minute",
                [
                    metric(d.api(API_4XX), MINUTE, "4xx"),
                    metric(d.api(API_5XX), MINUTE, "5xx"),
                    metric(validation_errors, MINUTE, "422 (validation)"),
                ],
                unit="responses",
            ),
            _graph(
                "5xx rate (%)",
                [
                    cloudwatch.MathExpression(
                        expression="100 * errors",
                        label="5xx rate",
                        using_metrics={"errors": metric(d.api(API_5XX, "Average"), MINUTE)},
                        period=MINUTE,
                    )
                ],
                unit="%",
                annotations=[
                    line("critical", thresholds["error_rate_critical_percent"]),
                    line("warning", thresholds["error_rate_warning_percent"], "#ff7f0e"),
                ],
            ),
        )

        # Latency
        percentiles = [
            metric(d.api(API_LATENCY, stat), FIVE_MINUTES, f"API {stat}") for stat in ("p50", "p95", "p99")
        ]
        integration = [metric(d.api(API_INTEGRATION_LATENCY, "p99"), FIVE_MINUTES, "integration p99")]
        phases = [
            metric(identity, FIVE_MINUTES, f"{api} {phase}")
            for api in apis
            for phase, identity in sorted(service.phase_latency.get(api, {}).items())
        ]
        durations = [
            metric(d.function(api, LAMBDA_DURATION, "p99"), FIVE_MINUTES, f"{api} Lambda p99") for api in apis
        ]
        self.dashboard.add_widgets(
            _graph(
                "API latency p50 / p95 / p99 (ms)",
                [*percentiles, *integration],
                width=12,
                unit="ms",
                annotations=[
                    line("p99 critical", thresholds["p99_latency_critical_ms"]),
                    line("p95 warning", thresholds["p95_latency_warning_ms"], "#ff7f0e"),
                    line("p95 info", thresholds["p95_latency_info_ms"], "#1f77b4"),
                ],
            ),
            _graph("Latency per serving phase, p99 (ms)", phases or durations, width=12, unit="ms"),
        )

        # Errors, throttles, concurrency, memory per version
        self.dashboard.add_widgets(
            _graph(
                "Function errors",
                [metric(d.function(api, LAMBDA_ERRORS), MINUTE, f"{api} errors") for api in apis],
                width=6,
                unit="count",
                right=[
                    metric(d.function(api, LAMBDA_INVOCATIONS), MINUTE, f"{api} invocations") for api in apis
                ],
            ),
            _graph(
                "Throttles",
                [metric(d.function(api, LAMBDA_THROTTLES), MINUTE, f"{api}") for api in apis],
                width=6,
                unit="count",
            ),
            _graph(
                "Concurrency (max)",
                [metric(d.function(api, LAMBDA_CONCURRENCY, "Maximum"), MINUTE, api) for api in apis],
                width=6,
                unit="executions",
                annotations=[
                    line("reserved", reserved_concurrency),
                    line(
                        "warning",
                        reserved_concurrency * thresholds["concurrency_warning_percent"] / 100,
                        "#ff7f0e",
                    ),
                ],
            ),
            _graph(
                "Max memory used (MB)",
                [metric(max_memory_used[api], FIVE_MINUTES, api) for api in apis],
                width=6,
                unit="MB",
                annotations=[
                    line("configured", memory_mb),
                    line("warning", memory_mb * thresholds["memory_warning_percent"] / 100, "#ff7f0e"),
                ],
            ),
        )

        # Synthetic probe
        if d.probe_service:
            probe = {"service": d.probe_service}
            checks = ("health", *apis)
            self.dashboard.add_widgets(
                _graph(
                    "Probe: run passed (1) or failed (0)",
                    [
                        metric(d.custom(PROBE_SUCCESS, probe, "Minimum"), MINUTE, "all checks"),
                        *[
                            metric(
                                d.custom(PROBE_CHECK_SUCCESS, {**probe, CHECK_DIMENSION: c}, "Minimum"),
                                MINUTE,
                                c,
                            )
                            for c in checks
                        ],
                    ],
                    width=12,
                ),
                _graph(
                    "Probe latency, slowest request per check (ms)",
                    [
                        metric(d.custom(PROBE_LATENCY, {**probe, CHECK_DIMENSION: c}, "Maximum"), MINUTE, c)
                        for c in checks
                    ],
                    width=12,
                    unit="ms",
                    annotations=[line("budget", thresholds["probe_latency_budget_ms"])],
                ),
            )

        # The model's answers
        mix = [
            metric(identity, FIVE_MINUTES, f"{api} {decision}")
            for api in apis
            for decision, identity in sorted(service.prediction_mix.get(api, {}).items())
        ]
        mean = [
            cloudwatch.MathExpression(
                # Metric ids must be unique within a graph: one pair per API version.
                expression=f"IF(count_{api} > 0, total_{api} / count_{api})",
                label=f"{api} mean probability",
                period=FIVE_MINUTES,
                using_metrics={
                    f"total_{api}": metric(total, FIVE_MINUTES),
                    f"count_{api}": metric(count, FIVE_MINUTES),
                },
            )
            for api, (total, count) in sorted(service.mean_probability.items())
        ]
        self.dashboard.add_widgets(
            _graph("Prediction mix per version", mix, width=12, unit="predictions", stacked=True),
            _graph("Mean probability per version", mean, width=12),
        )
        self.dashboard.add_widgets(
            _graph(
                "Validation errors by field",
                [
                    metric(identity, FIVE_MINUTES, name)
                    for name, identity in sorted(service.validation_errors_by_field.items())
                ],
                width=12,
                unit="errors",
                stacked=True,
            ),
            _graph(
                "Unknown categorical values by field (v2)",
                [
                    metric(identity, FIVE_MINUTES, name)
                    for name, identity in sorted(service.unknown_categories_by_field.items())
                ],
                width=12,
                unit="values",
                stacked=True,
            ),
        )
        if service.v1_calls_by_consumer:
            self.dashboard.add_widgets(
                _graph(
                    "v1 calls by consumer (answered and refused; v1 sunset planning)",
                    [
                        metric(identity, FIVE_MINUTES, name)
                        for name, identity in sorted(service.v1_calls_by_consumer.items())
                    ],
                    width=WIDTH,
                    unit="calls",
                    stacked=True,
                )
            )

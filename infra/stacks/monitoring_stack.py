"""Operational monitoring: alert routing, the synthetic probe, the alarm catalogue, the dashboard.

Thin: it names what the service stack deployed (``propensity.alerting.signals.Deployment``),
composes one construct per capability and exposes ``topics`` (critical, warning, info) so
other stacks put their alarms on the same routing:

    alarm.add_alarm_action(SnsAction(monitoring.topics["warning"]))

with a description from ``propensity.alerting.description.describe_alarm`` (tier + runbook).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.alarms import (
    INIT_FAILURE_PATTERN,
    REPORT_LINE_PATTERN,
    OperationalAlarms,
    Watched,
    alarm_catalogue,
    unknown_categories_total,
)
from infra.constructs.alerting import AlertRouting
from infra.constructs.dashboard import OperationsDashboard, service_metrics
from infra.constructs.deployment_events import DeploymentEvents
from infra.constructs.layers import lambda_architecture, shared_layers
from infra.constructs.nag import suppress_python_runtime_finding
from infra.constructs.probe import SyntheticProbe
from infra.constructs.retention import retention_days
from propensity.alerting.signals import API_422, INIT_FAILURES, MAX_MEMORY_USED, Deployment
from propensity.alerting.tiers import Tier
from propensity.constants import API_VERSIONS
from propensity.promotion.stage import prediction_function_name

# Where alarm descriptions and notifications link to; set the context value ``runbook_url``
# (cdk.json or ``-c runbook_url=...``) to the RUNBOOK.md of your repository's default branch.
DEFAULT_RUNBOOK_URL = "https://github.com/example-org/propensity/blob/main/RUNBOOK.md"
ALERT_LOG_RETENTION_DAYS = 90


class MonitoringStack(cdk.Stack):
    """Exposes ``topics`` (critical, warning, info), ``routing``, ``probe``, ``alarms``, ``dashboard``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, service: Any, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.service = service
        prefix = f"propensity-{config.stage}"
        thresholds = config.alarms
        architecture = lambda_architecture(config.prediction.architecture)
        retention = retention_days(ALERT_LOG_RETENTION_DAYS)
        layers = shared_layers(self, architecture=config.prediction.architecture)
        runbook_url = str(self.node.try_get_context("runbook_url") or DEFAULT_RUNBOOK_URL)
        dashboard_name = f"{prefix}-operations"
        dashboard_url = (
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#dashboards:name={dashboard_name}"
        )

        self.deployment = Deployment(
            stage=config.stage,
            api_name=service.api.rest_api_name,
            api_stage=config.stage,
            functions={api: service.predictions[api].function_name for api in API_VERSIONS},
            model_versions=dict(service.model_versions),
            probe_service=f"{prefix}-probe",
        )

        self.routing = AlertRouting(
            self,
            "Alerting",
            name_prefix=prefix,
            endpoints=config.alerts,
            deployment=self.deployment,
            dashboard_url=dashboard_url,
            runbook_url=runbook_url,
            digest_hour_utc=thresholds.digest_hour_utc,
            layers=layers,
            architecture=architecture,
            log_retention=retention,
        )
        self.topics: dict[Tier, sns.Topic] = dict(self.routing.topics)

        self.probe = SyntheticProbe(
            self,
            "Probe",
            name_prefix=prefix,
            api=service.api,
            api_url=service.api_url,
            bundle_dirs=dict(service.bundle_dirs),
            model_versions=dict(service.model_versions),
            api_key_secret_name=config.alerts.probe_api_key_secret,
            schedule_minutes=config.probe_schedule_minutes,
            thresholds=thresholds,
            layers=layers,
            architecture=architecture,
            log_retention=retention,
        )
        assert self.probe.service_name == self.deployment.probe_service

        self.deployment_events = DeploymentEvents(
            self,
            "DeploymentEvents",
            config=config,
            # By name (fixed by the stage), not by a cross-stack import: an event pattern needs literals.
            applications=[prediction_function_name(config.stage, api) for api in API_VERSIONS],
            topics=dict(self.topics),
            layers=layers,
            runbook_url=runbook_url,
            log_retention=retention,
        )

        watched = self._log_metrics(service)
        self.alarms = OperationalAlarms(
            self,
            "Alarms",
            name_prefix=prefix,
            specs=alarm_catalogue(watched, thresholds),
            topics=dict(self.topics),
            runbook_url=runbook_url,
            # An undeliverable alert must not depend on the notifiers that failed: also e-mail it.
            extra_actions={"alert-dlq-critical": [self.routing.digest_topic]},
        )
        self.dashboard = OperationsDashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            deployment=self.deployment,
            alarms=list(self.alarms.alarms.values()),
            thresholds=thresholds.model_dump(),
            reserved_concurrency=config.prediction.reserved_concurrency,
            memory_mb=config.prediction.memory_mb,
            max_memory_used=watched.max_memory_used,
            validation_errors=watched.validation_errors,
            service=service_metrics(self.deployment, [c.name for c in config.consumers]),
        )

        for tier, topic in self.topics.items():
            cdk.CfnOutput(self, f"{tier.capitalize()}TopicArn", value=topic.topic_arn)
        cdk.CfnOutput(self, "DashboardUrl", value=dashboard_url)
        cdk.CfnOutput(self, "AlertDeadLetterQueueUrl", value=self.routing.dead_letter_queue.queue_url)
        cdk.CfnOutput(self, "ProbeApiKeySecret", value=config.alerts.probe_api_key_secret)
        suppress_python_runtime_finding(self)

    def _log_metrics(self, service: Any) -> Watched:
        """Metric filters on the prediction functions' logs and the API access log."""
        d = self.deployment
        init_failures, max_memory = {}, {}
        for api in API_VERSIONS:
            function_name = d.functions[api]
            group = logs.LogGroup.from_log_group_name(
                self, f"Logs{api.upper()}", f"/aws/lambda/{function_name}"
            )
            init_failures[api] = d.log_metric(INIT_FAILURES, function_name)
            max_memory[api] = d.log_metric(MAX_MEMORY_USED, function_name, "Maximum")
            logs.MetricFilter(
                self,
                f"InitFailures{api.upper()}",
                log_group=group,
                filter_pattern=INIT_FAILURE_PATTERN,
                metric_namespace=d.namespace,
                metric_name=init_failures[api].name,
                metric_value="1",
            )
            logs.MetricFilter(
                self,
                f"MaxMemory{api.upper()}",
                log_group=group,
                filter_pattern=REPORT_LINE_PATTERN,
                metric_namespace=d.namespace,
                metric_name=max_memory[api].name,
                metric_value="$max_memory_used",
                unit=None,
            )
        validation = d.log_metric(API_422, d.api_name)
        logs.MetricFilter(
            self,
            "Http422",
            log_group=service.public_api.access_log_group,
            filter_pattern=logs.FilterPattern.any(
                logs.FilterPattern.string_value("$.status", "=", "422"),
                logs.FilterPattern.number_value("$.status", "=", 422),
            ),
            metric_namespace=d.namespace,
            metric_name=validation.name,
            metric_value="1",
        )
        return Watched(
            deployment=d,
            memory_mb=self.config.prediction.memory_mb,
            reserved_concurrency=self.config.prediction.reserved_concurrency,
            probe_schedule_minutes=self.config.probe_schedule_minutes,
            init_failures=init_failures,
            max_memory_used=max_memory,
            validation_errors=validation,
            unknown_categories=unknown_categories_total(d),
            dead_letter_queue_depth=d.queue(self.routing.dead_letter_queue.queue_name),
        )

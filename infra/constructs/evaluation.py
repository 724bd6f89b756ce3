"""Delayed ground truth (issue 7): outcome ingestion, the weekly evaluation job and its alarms.

- ``labels`` function: S3 notifications for ``labels/`` objects (one per supported suffix)
  validate and store each dropped outcome file under ``outcomes/``.
- ``evaluate`` function: an EventBridge weekly schedule re-evaluates the lookback windows,
  writes results and the report under ``evaluation/`` and publishes the evaluation metrics.
  The manifests of the models deployed with the stack ship with it (``manifest-<api>.json``),
  so their baselines are known even when the registry is a folder on the deploying machine;
  an ``s3://`` registry is read as well (older model versions still in the lookback).
- Alarms on the published metrics: warning when F1 drops more than
  ``evaluation.f1_drop_warning_relative`` below the manifest, warning when the conversion of
  "yes" predictions drops more than ``conversion_drop_warning_relative`` below its history,
  info when the ECE exceeds ``ece_info_bound``; and a warning when either function fails.

The stack adds ``grant``-free wiring only: this construct grants exactly what each function
needs on the archive bucket (prefix by prefix) and on the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sns as sns
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.alarms import AlarmSpec, OperationalAlarms
from infra.constructs.archive import ArchiveQuery
from infra.constructs.dead_letters import dead_letter_alarm_spec
from infra.constructs.drift import (
    DEFAULT_RUNBOOK_URL,
    grant_registry_read,
    put_metrics_policy,
    registry_location,
)
from infra.constructs.lambda_function import LambdaFunction
from infra.constructs.layers import lambda_architecture, shared_layers
from infra.constructs.nag import managed_policy_arn, suppress_python_runtime_finding
from infra.packaging import function_code_dir, manifests_code_dir
from propensity.alerting.tiers import Tier
from propensity.constants import API_VERSIONS, ARCHIVE_PREDICTIONS_PREFIX, METRIC_NAMESPACE, ApiVersion
from propensity.evaluation import metric_names as names
from propensity.evaluation.results import EVALUATION_PREFIX
from propensity.labels.layout import LABEL_FILE_SUFFIXES, LABELS_PREFIX, OUTCOMES_PREFIX

# Monday 06:00 UTC: the week before is complete and its late Firehose files have landed.
WEEKLY = events.Schedule.cron(minute="0", hour="6", week_day="MON")
LAMBDA_TASK_ROOT = "/var/task"
ALARM_PERIOD = cdk.Duration.days(1)

Comparison = cloudwatch.ComparisonOperator
Missing = cloudwatch.TreatMissingData


def evaluation_alarm_specs(
    config: StageConfig, evaluate_errors: cloudwatch.IMetric, labels_errors: cloudwatch.IMetric
) -> list[AlarmSpec]:
    """The evaluation alarms, thresholds from ``config.evaluation``.

    The job publishes once a week; missing data between runs keeps the alarm's state
    (``IGNORE``), so a warning stays up until a later run shows the figure recovered.
    """
    t = config.evaluation
    specs: list[AlarmSpec] = []

    def gauge(name: str, api: ApiVersion, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=name,
            dimensions_map={names.DIMENSION_API: api},
            statistic="Maximum",
            period=ALARM_PERIOD,
            label=label,
        )

    for api in API_VERSIONS:
        specs.append(
            AlarmSpec(
                key=f"evaluation-f1-drop-warning-{api}",
                anchor="evaluation-f1-drop-warning",
                tier="warning",
                summary=f"{api}: realised F1 on the latest week with enough outcomes is more than "
                f"{t.f1_drop_warning_relative:.0%} below the model's manifest F1",
                metric=gauge(names.F1_DROP, api, f"{api} F1 drop vs manifest (relative)"),
                threshold=t.f1_drop_warning_relative,
                comparison=Comparison.GREATER_THAN_THRESHOLD,
                missing=Missing.IGNORE,
            )
        )
        specs.append(
            AlarmSpec(
                key=f"evaluation-conversion-drop-warning-{api}",
                anchor="evaluation-conversion-drop-warning",
                tier="warning",
                summary=f'{api}: conversion of "yes" predictions is more than '
                f"{t.conversion_drop_warning_relative:.0%} below its historical baseline "
                f"(mean of the previous {t.conversion_baseline_windows} judged weeks)",
                metric=gauge(names.CONVERSION_DROP, api, f"{api} conversion drop vs history (relative)"),
                threshold=t.conversion_drop_warning_relative,
                comparison=Comparison.GREATER_THAN_THRESHOLD,
                missing=Missing.IGNORE,
            )
        )
        specs.append(
            AlarmSpec(
                key=f"evaluation-calibration-info-{api}",
                anchor="evaluation-calibration-info",
                tier="info",
                summary=f"{api}: expected calibration error on the latest week with enough outcomes is above "
                f"{t.ece_info_bound:g}",
                metric=gauge(names.CALIBRATION_ERROR, api, f"{api} ECE"),
                threshold=t.ece_info_bound,
                comparison=Comparison.GREATER_THAN_THRESHOLD,
                missing=Missing.IGNORE,
                ok_action=False,
            )
        )
    for key, metric, what in (
        ("evaluation-job-failed-warning", evaluate_errors, "The weekly evaluation job failed"),
        ("label-ingestion-failed-warning", labels_errors, "Outcome file ingestion failed"),
    ):
        specs.append(
            AlarmSpec(
                key=key,
                anchor="evaluation-job-failed-warning",
                tier="warning",
                summary=f"{what} (errors in a day); re-running is safe: both jobs are idempotent",
                metric=metric,
                threshold=1,
                comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                missing=Missing.NOT_BREACHING,
            )
        )
    return specs


# CDK's own singleton that applies bucket notifications (one per stack).
NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


def _suppress_notification_handler_findings(stack: cdk.Stack) -> None:
    NagSuppressions.add_resource_suppressions_by_path(
        stack,
        f"/{stack.node.path}/{NOTIFICATIONS_HANDLER}/Role/Resource",
        [
            NagPackSuppression(
                id="AwsSolutions-IAM4",
                applies_to=[f"Policy::{managed_policy_arn('service-role/AWSLambdaBasicExecutionRole')}"],
                reason="CDK's bucket-notification custom resource handler (not ours to change) runs once "
                "at deploy time with the basic execution role",
            )
        ],
    )


class Evaluation(Construct):
    """Exposes ``labels`` and ``evaluate`` (``LambdaFunction``), ``rule``, ``alarms`` (by key)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        topics: Mapping[Tier, sns.ITopic],
        config: StageConfig,
        bundle_dirs: Mapping[ApiVersion, Path] | None = None,
        layers: list[lambda_.ILayerVersion] | None = None,
        schedule: events.Schedule = WEEKLY,
        runbook_url: str | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        query: ArchiveQuery | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = f"propensity-{config.stage}"
        architecture = lambda_architecture(config.prediction.architecture)
        if layers is None:
            layers = shared_layers(self, architecture=config.prediction.architecture)
        archive_location = f"s3://{bucket.bucket_name}"

        # Outcome ingestion --------------------------------------------------------------------
        self.labels = LambdaFunction(
            self,
            "Labels",
            function_name=f"{prefix}-labels",
            description="Validates outcome files dropped under labels/ and stores them under outcomes/",
            code_dir=function_code_dir("labels"),
            handler="labels_handler.lambda_handler",
            layers=layers,
            architecture=architecture,
            log_retention=log_retention,
            memory_mb=512,
            timeout=cdk.Duration.minutes(5),
            environment={"ARCHIVE_LOCATION": archive_location},
        )
        bucket.grant_read(self.labels.role, f"{LABELS_PREFIX}*")
        # Reading outcomes/ too: the ingestion record tells a content already ingested.
        bucket.grant_read(self.labels.role, f"{OUTCOMES_PREFIX}*")
        bucket.grant_put(self.labels.role, f"{OUTCOMES_PREFIX}*")
        for suffix in LABEL_FILE_SUFFIXES:
            bucket.add_event_notification(
                s3.EventType.OBJECT_CREATED,
                s3n.LambdaDestination(self.labels.function),
                s3.NotificationKeyFilter(prefix=LABELS_PREFIX, suffix=suffix),
            )

        _suppress_notification_handler_findings(cdk.Stack.of(self))

        # Weekly evaluation ----------------------------------------------------------------------
        if query is None:
            raise ValueError("the evaluation joins in Athena: pass the archive's query access")
        code_dir = manifests_code_dir("evaluate", bundle_dirs)
        environment = {
            "ARCHIVE_LOCATION": archive_location,
            "BASELINES_DIR": LAMBDA_TASK_ROOT,
            "EVALUATION_THRESHOLDS": config.evaluation.model_dump_json(),
            "METRICS_BACKEND": "cloudwatch",
            **query.environment,
        }
        registry = registry_location(config)
        if registry:
            environment["REGISTRY_LOCATION"] = registry
        self.evaluate = LambdaFunction(
            self,
            "Evaluate",
            function_name=f"{prefix}-evaluate",
            description="Weekly: archived predictions joined with outcomes; realised and estimated figures",
            code_dir=code_dir,
            handler="evaluate_handler.lambda_handler",
            layers=layers,
            architecture=architecture,
            log_retention=log_retention,
            memory_mb=3008,
            timeout=cdk.Duration.minutes(15),
            reserved_concurrency=1,  # one run at a time: a retry never races the run it retries
            environment=environment,
        )
        for readable in (ARCHIVE_PREDICTIONS_PREFIX, OUTCOMES_PREFIX, EVALUATION_PREFIX):
            bucket.grant_read(self.evaluate.role, f"{readable}*")
        bucket.grant_put(self.evaluate.role, f"{EVALUATION_PREFIX}*")
        query.grant(self.evaluate.role)
        if registry:
            grant_registry_read(self, self.evaluate.role, registry, aliases=False)
        put_metrics_policy(self, self.evaluate.role)
        self.rule = events.Rule(
            self,
            "Weekly",
            rule_name=f"{prefix}-evaluation-weekly",
            description="Weekly delayed ground-truth evaluation",
            schedule=schedule,
            targets=[
                targets.LambdaFunction(
                    self.evaluate.function, retry_attempts=2, max_event_age=cdk.Duration.hours(6)
                )
            ],
        )

        suppress_python_runtime_finding(self)
        for role, what in (
            (self.labels.role, "labels/ and outcomes/"),
            (self.evaluate.role, "predictions/, outcomes/, evaluation/ and athena-results/"),
        ):
            NagSuppressions.add_resource_suppressions(
                role,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        reason=f"Object-level access limited to the {what} prefixes of the archive bucket "
                        "(keys are per file and per hour, so a prefix wildcard is the narrowest grant); "
                        "Get*/List* are CDK's read grant",
                    )
                ],
                apply_to_children=True,
            )

        self.alarms = OperationalAlarms(
            self,
            "Alarms",
            name_prefix=prefix,
            specs=[
                *evaluation_alarm_specs(
                    config,
                    self.evaluate.function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
                    self.labels.function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
                ),
                dead_letter_alarm_spec(
                    self.labels,
                    key="label-ingestion-dlq-warning",
                    anchor="label-ingestion-dlq-warning",
                    what="An outcome file notification",
                ),
            ],
            topics=dict(topics),
            runbook_url=runbook_url or str(self.node.try_get_context("runbook_url") or DEFAULT_RUNBOOK_URL),
        ).alarms

        for name, value in (
            ("EvaluationFunctionName", self.evaluate.function.function_name),
            ("LabelsFunctionName", self.labels.function.function_name),
        ):
            output = cdk.CfnOutput(self, name, value=value)
            output.override_logical_id(name)

"""The hourly drift job: an EventBridge schedule, the function, and its alarms.

The function ships the manifests of the models the stack deploys (``manifest-<api>.json``
next to the handler), so their reference distributions are known even when the registry is
a folder on the deploying machine; with an ``s3://`` registry it also reads older model
versions' manifests from it.

Alarms, thresholds from ``StageConfig.drift`` (the job judges by the same values):
- warning: any feature's PSI over ``psi_warning`` (metric ``MaxFeaturePSI``);
- warning: the "yes" rate more than ``yes_rate_warning_points`` from the reference;
- info: ``psi_info_feature_count`` or more features over ``psi_info``;
- warning: the job itself failing.
Every drift figure is stamped with its window's start and published about 20 minutes after
the window ends, so each alarm looks at two one-hour periods and needs one breaching point;
quiet hours publish no PSI (small-count policy) and missing data is not breaching.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.alarms import AlarmSpec, OperationalAlarms
from infra.constructs.archive import ArchiveQuery
from infra.constructs.lambda_function import LambdaFunction
from infra.constructs.layers import lambda_architecture
from infra.packaging import manifests_code_dir
from propensity.alerting.tiers import Tier
from propensity.constants import API_VERSIONS, ARCHIVE_PREDICTIONS_PREFIX, METRIC_NAMESPACE, ApiVersion
from propensity.drift import metrics as names
from propensity.drift.job import Schedule
from propensity.drift.state import DRIFT_PREFIX

LAMBDA_TASK_ROOT = "/var/task"
ALARM_PERIOD = cdk.Duration.hours(1)
DEFAULT_RUNBOOK_URL = "https://github.com/example-org/propensity/blob/main/RUNBOOK.md"

Comparison = cloudwatch.ComparisonOperator
Missing = cloudwatch.TreatMissingData


def hourly_schedule(schedule: Schedule = Schedule()) -> events.Schedule:
    """Every hour, ``settle_minutes`` past: the previous hour is complete and Firehose has flushed it."""
    return events.Schedule.cron(minute=str(schedule.settle_minutes), hour="*")


def registry_location(config: StageConfig) -> str | None:
    """The stage's S3 registry (the first ``s3://`` pin), if any: a folder is not reachable from AWS."""
    found = sorted({pin.registry for pin in config.models.values() if pin.registry.startswith("s3://")})
    return found[0] if found else None


def grant_registry_read(scope: Construct, role: iam.IRole, location: str, *, aliases: bool) -> None:
    """Read the registry's manifests (and alias history) in its bucket."""
    bucket_name, _, prefix = location.removeprefix("s3://").partition("/")
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    bucket = s3.Bucket.from_bucket_name(scope, "Registry", bucket_name)
    bucket.grant_read(role, f"{prefix}models/*")
    bucket.grant_read(role, f"{prefix}records/*")  # registration records: every manifest is checked
    if aliases:
        bucket.grant_read(role, f"{prefix}aliases/*")


def put_metrics_policy(scope: Construct, role: iam.IRole) -> iam.Policy:
    """``cloudwatch:PutMetricData`` limited to the project's namespace."""
    policy = iam.Policy(
        scope,
        "PutMetrics",
        roles=[role],
        statements=[
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            )
        ],
    )
    NagSuppressions.add_resource_suppressions(
        policy,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                applies_to=["Resource::*"],
                reason="cloudwatch:PutMetricData has no resource-level permissions; the statement is "
                "limited to the project's namespace by the cloudwatch:namespace condition",
            )
        ],
    )
    return policy


def drift_alarm_specs(config: StageConfig, job_errors: cloudwatch.IMetric) -> list[AlarmSpec]:
    """The drift alarms per API version, thresholds from ``config.drift``."""
    t = config.drift

    def gauge(name: str, api: ApiVersion, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=name,
            dimensions_map={names.API_DIMENSION: api},
            statistic="Maximum",
            period=ALARM_PERIOD,
            label=label,
        )

    specs: list[AlarmSpec] = []
    for api in API_VERSIONS:
        specs += [
            AlarmSpec(
                key=f"drift-feature-psi-warning-{api}",
                anchor="drift-feature-psi-warning",
                tier="warning",
                summary=f"{api}: an input feature's PSI against the model's reference is over "
                f"{t.psi_warning:g} in an hour with at least {t.min_events_per_window} predictions",
                metric=gauge(names.MAX_FEATURE_PSI, api, f"{api} largest feature PSI"),
                threshold=t.psi_warning,
                comparison=Comparison.GREATER_THAN_THRESHOLD,
                missing=Missing.NOT_BREACHING,
                evaluation_periods=2,
                datapoints_to_alarm=1,
            ),
            AlarmSpec(
                key=f"drift-yes-rate-warning-{api}",
                anchor="drift-yes-rate-warning",
                tier="warning",
                summary=f'{api}: the share of "yes" predictions moved more than '
                f"{t.yes_rate_warning_points:g} points from the model's reference in an hour",
                metric=gauge(names.YES_RATE_SHIFT, api, f"{api} yes-rate shift (points)"),
                threshold=t.yes_rate_warning_points,
                comparison=Comparison.GREATER_THAN_THRESHOLD,
                missing=Missing.NOT_BREACHING,
                evaluation_periods=2,
                datapoints_to_alarm=1,
            ),
            AlarmSpec(
                key=f"drift-features-psi-info-{api}",
                anchor="drift-features-psi-info",
                tier="info",
                summary=f"{api}: {t.psi_info_feature_count} or more input features have PSI over "
                f"{t.psi_info:g} in an hour",
                metric=gauge(names.FEATURES_OVER_PSI_INFO, api, f"{api} features over PSI {t.psi_info:g}"),
                threshold=t.psi_info_feature_count,
                comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                missing=Missing.NOT_BREACHING,
                evaluation_periods=2,
                datapoints_to_alarm=1,
                ok_action=False,
            ),
        ]
    specs.append(
        AlarmSpec(
            key="drift-job-failed-warning",
            anchor="drift-job-failed-warning",
            tier="warning",
            summary="The hourly drift job failed; the watermark stays before the failed hour and the next "
            "run retries it",
            metric=job_errors,
            threshold=1,
            comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            missing=Missing.NOT_BREACHING,
        )
    )
    return specs


class DriftMonitor(Construct):
    """Exposes ``job`` (``LambdaFunction``), ``rule`` and ``alarms`` (by key)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        config: StageConfig,
        topics: Mapping[Tier, sns.ITopic],
        layers: list[lambda_.ILayerVersion],
        bundle_dirs: Mapping[ApiVersion, Path] | None = None,
        schedule: Schedule = Schedule(),
        runbook_url: str = DEFAULT_RUNBOOK_URL,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        query: ArchiveQuery | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if query is None:
            raise ValueError("the drift job counts the archive with Athena: pass the archive's query access")
        prefix = f"propensity-{config.stage}"
        code_dir = manifests_code_dir("drift", bundle_dirs)
        environment = {
            "ARCHIVE_LOCATION": f"s3://{bucket.bucket_name}",
            "REFERENCES_DIR": LAMBDA_TASK_ROOT,
            "DRIFT_THRESHOLDS": config.drift.model_dump_json(),
            "DRIFT_SCHEDULE": schedule.model_dump_json(),
            "METRICS_BACKEND": "cloudwatch",
            **query.environment,
        }
        registry = registry_location(config)
        if registry:
            environment["REGISTRY_LOCATION"] = registry
        self.job = LambdaFunction(
            self,
            "Job",
            function_name=f"{prefix}-drift",
            description="Hourly: archived predictions vs the model's reference (PSI, yes rate, bands)",
            code_dir=code_dir,
            handler="drift_handler.lambda_handler",
            layers=layers,
            architecture=lambda_architecture(config.prediction.architecture),
            log_retention=log_retention,
            # The counting runs in Athena; the function waits for it and reads a small result.
            memory_mb=1024,
            timeout=cdk.Duration.minutes(15),
            reserved_concurrency=1,  # one run at a time: a retry never races the run it retries
            environment=environment,
        )
        bucket.grant_read(self.job.role, f"{ARCHIVE_PREDICTIONS_PREFIX}*")
        bucket.grant_read(self.job.role, f"{DRIFT_PREFIX}*")
        bucket.grant_put(self.job.role, f"{DRIFT_PREFIX}*")
        query.grant(self.job.role)
        if registry:
            grant_registry_read(self, self.job.role, registry, aliases=False)
        put_metrics_policy(self, self.job.role)
        NagSuppressions.add_resource_suppressions(
            self.job.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Object-level access limited to the predictions/ and outcomes/accepted/ (read), "
                    "drift/ and athena-results/ (read, write) prefixes of the archive bucket (Athena reads "
                    "and writes with the caller's rights) and the registry's models/; keys are per hour, "
                    "so a prefix wildcard is the narrowest grant; Get*/List* and kms:GenerateDataKey* are "
                    "CDK's read and put grants",
                )
            ],
            apply_to_children=True,
        )
        self.rule = events.Rule(
            self,
            "Hourly",
            rule_name=f"{prefix}-drift-hourly",
            description="Hourly input and prediction drift over the archive",
            schedule=hourly_schedule(schedule),
            targets=[
                targets.LambdaFunction(
                    self.job.function, retry_attempts=2, max_event_age=cdk.Duration.hours(1)
                )
            ],
        )
        self.alarms = OperationalAlarms(
            self,
            "Alarms",
            name_prefix=prefix,
            specs=drift_alarm_specs(
                config, self.job.function.metric_errors(period=ALARM_PERIOD, statistic="Sum")
            ),
            topics=dict(topics),
            runbook_url=runbook_url,
        ).alarms
        output = cdk.CfnOutput(self, "DriftFunctionName", value=self.job.function.function_name)
        output.override_logical_id("DriftFunctionName")

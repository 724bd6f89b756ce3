"""The shadow scorer: each new archive object, scored again by the registry's challenger.

S3 notifies the function of every object Firehose writes under ``predictions/``. The
function follows the registry's ``challenger`` alias (it needs an ``s3://`` registry: a
folder on the deploying machine is not reachable from AWS; every stage of cdk.json has one,
its registry stack's, and a stage that requires the shadow scorer without one fails synth in
``infra/config.py``). It verifies every record it reads with the registry's signing key
(kms:Verify, granted by the stack), writes its results under
``shadow/`` and publishes agreement, probability difference and latency. A warning alarm
fires when it fails, so a challenger that cannot score real traffic is noticed.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sns as sns
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.alarms import AlarmSpec, OperationalAlarms
from infra.constructs.drift import DEFAULT_RUNBOOK_URL, grant_registry_read, put_metrics_policy
from infra.constructs.lambda_function import LambdaFunction
from infra.constructs.layers import lambda_architecture
from infra.packaging import function_code_dir
from propensity.alerting.tiers import Tier
from propensity.constants import ARCHIVE_PREDICTIONS_PREFIX
from propensity.shadow.scorer import SHADOW_PREFIX

ALARM_PERIOD = cdk.Duration.hours(1)


class ShadowScoring(Construct):
    """Exposes ``scorer`` (``LambdaFunction``) and ``alarms`` (by key)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        registry: str,
        config: StageConfig,
        topics: Mapping[Tier, sns.ITopic],
        layers: list[lambda_.ILayerVersion],
        runbook_url: str = DEFAULT_RUNBOOK_URL,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
    ) -> None:
        super().__init__(scope, construct_id)
        if not registry.startswith("s3://"):
            raise ValueError(f"the shadow scorer needs an s3:// registry, got {registry!r}")
        prefix = f"propensity-{config.stage}"
        self.scorer = LambdaFunction(
            self,
            "Scorer",
            function_name=f"{prefix}-shadow",
            description="Scores each new archive object with the registry's challenger, off the serving path",
            code_dir=function_code_dir("shadow"),
            handler="shadow_handler.lambda_handler",
            layers=layers,
            architecture=lambda_architecture(config.prediction.architecture),
            log_retention=log_retention,
            memory_mb=2048,
            timeout=cdk.Duration.minutes(5),
            # Objects arrive once per Firehose buffer; two at a time keeps up and bounds cost.
            reserved_concurrency=2,
            environment={
                "ARCHIVE_LOCATION": f"s3://{bucket.bucket_name}",
                "REGISTRY_LOCATION": registry,
                "METRICS_BACKEND": "cloudwatch",
            },
        )
        bucket.grant_read(self.scorer.role, f"{ARCHIVE_PREDICTIONS_PREFIX}*")
        bucket.grant_put(self.scorer.role, f"{SHADOW_PREFIX}*")
        grant_registry_read(self, self.scorer.role, registry, aliases=True)
        put_metrics_policy(self, self.scorer.role)
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.scorer.function),
            s3.NotificationKeyFilter(prefix=ARCHIVE_PREDICTIONS_PREFIX),
        )
        NagSuppressions.add_resource_suppressions(
            self.scorer.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Object-level access limited to predictions/ (read) and shadow/ (write) of the "
                    "archive bucket and the registry's models/ and aliases/ (read); keys are per object, so "
                    "a prefix wildcard is the narrowest grant; Get*/List* and kms:GenerateDataKey* are "
                    "CDK's read and put grants",
                )
            ],
            apply_to_children=True,
        )
        errors = self.scorer.function.metric_errors(period=ALARM_PERIOD, statistic="Sum")
        self.alarms = OperationalAlarms(
            self,
            "Alarms",
            name_prefix=prefix,
            specs=[
                AlarmSpec(
                    key="shadow-scorer-failed-warning",
                    anchor="shadow-scorer-failed-warning",
                    tier="warning",
                    summary="The shadow scorer failed on archive objects in the last hour (a challenger that "
                    "cannot score real traffic, or an unreadable object); consumers are not affected",
                    metric=errors,
                    threshold=1,
                    comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    missing=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            ],
            topics=dict(topics),
            runbook_url=runbook_url,
        ).alarms
        output = cdk.CfnOutput(self, "ShadowFunctionName", value=self.scorer.function.function_name)
        output.override_logical_id("ShadowFunctionName")

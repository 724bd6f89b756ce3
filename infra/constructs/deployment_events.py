"""Rollbacks are seen: CodeDeploy's failed and stopped deployments, announced on the stage's tier.

An EventBridge rule on "CodeDeploy Deployment State-change Notification" (FAILURE, STOP) of the
stage's prediction applications invokes a small notifier that publishes one alert (deployment id,
both Lambda versions, the alarm that fired) to the warning topic, or the critical one where the
stage says so (``deployment_alert_tier``). The rollback alarms themselves also notify the same
tier when they fire (``announce_rollback_alarms``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.lambda_function import LambdaFunction
from infra.constructs.layers import lambda_architecture
from infra.packaging import function_code_dir
from propensity.alerting.tiers import Tier
from propensity.promotion.deployment_notice import NOTICE_STATES

DETAIL_TYPE = "CodeDeploy Deployment State-change Notification"


def tier_topic_name(stage: str, tier: Tier) -> str:
    """The alert topic of a tier (infra/constructs/alerting.py names them so)."""
    return f"propensity-{stage}-{tier}"


def announce_rollback_alarms(
    scope: Construct, alarms: Iterable[cloudwatch.IAlarm], config: StageConfig
) -> None:
    """Give the canary's rollback alarms an action: the stage's deployment alert tier.

    The topic is referenced by name (its ARN is fixed by its name), not by a cross-stack
    reference: the monitoring stack already depends on the service stack.
    """
    stack = cdk.Stack.of(scope)
    arn = stack.format_arn(
        service="sns", resource=tier_topic_name(config.stage, config.deployment_alert_tier)
    )
    topic = sns.Topic.from_topic_arn(scope, "RollbackAlarmTopic", arn)
    for alarm in alarms:
        if not isinstance(alarm, cloudwatch.Alarm):
            raise TypeError(f"{alarm} is an imported alarm: its actions cannot be set here")
        alarm.add_alarm_action(actions.SnsAction(topic))


class DeploymentEvents(Construct):
    """Exposes ``rule`` and ``notifier`` (``LambdaFunction``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        applications: list[str],
        topics: Mapping[Tier, sns.ITopic],
        layers: list[lambda_.ILayerVersion],
        runbook_url: str,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
    ) -> None:
        super().__init__(scope, construct_id)
        tier = config.deployment_alert_tier
        topic = topics[tier]
        self.notifier = LambdaFunction(
            self,
            "Notifier",
            function_name=f"propensity-{config.stage}-deployment-notice",
            description="Announces CodeDeploy rollbacks (failed or stopped deployments) on the alert tier",
            code_dir=function_code_dir("deployment_notice"),
            handler="deployment_notice_handler.lambda_handler",
            layers=layers,
            architecture=lambda_architecture(config.prediction.architecture),
            log_retention=log_retention,
            environment={
                "NOTICE_TOPIC_ARN": topic.topic_arn,
                "NOTICE_TIER": tier,
                "RUNBOOK_URL": runbook_url,
            },
        )
        topic.grant_publish(self.notifier.role)
        stack = cdk.Stack.of(self)
        self.notifier.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["codedeploy:GetDeployment", "codedeploy:GetDeploymentGroup"],
                resources=[
                    stack.format_arn(
                        service="codedeploy",
                        resource="deploymentgroup",
                        resource_name=f"{app}/*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for app in applications
                ],
            )
        )
        self.notifier.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=["*"])
        )
        NagSuppressions.add_resource_suppressions(
            self.notifier.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="cloudwatch:DescribeAlarms has no resource-level scoping by name list; CodeDeploy "
                    "reads are limited to the stage's prediction applications' deployment groups; the KMS "
                    "grant for the encrypted topic is CDK's standard one",
                )
            ],
            apply_to_children=True,
        )
        self.rule = events.Rule(
            self,
            "Rule",
            rule_name=f"propensity-{config.stage}-deployment-rolled-back",
            description="CodeDeploy deployments of the prediction functions that failed or were stopped",
            event_pattern=events.EventPattern(
                source=["aws.codedeploy"],
                detail_type=[DETAIL_TYPE],
                detail={"state": list(NOTICE_STATES), "application": list(applications)},
            ),
            targets=[targets.LambdaFunction(self.notifier.function, retry_attempts=4)],
        )

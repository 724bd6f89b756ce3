"""One prediction function (one API version): function, ``live`` alias, canary deployment group.

The function's asset is ``functions/predict/`` plus the model bundle as ``model/``, so a new
model version is a new asset, hence a new published Lambda version whose description is the
model version (the rollback command maps model versions to Lambda versions with it). CodeDeploy
shifts the ``live`` alias to each new version: a canary in prod, all at once in dev, with
automatic rollback on failure and on alarms that watch the NEW version only (the
``ExecutedVersion`` dimension), so a 10% canary's errors are not diluted by the old version.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_lambda as lambda_
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from infra.config import PredictionConfig
from infra.constructs.hooks import DeploymentHooks
from infra.constructs.lambda_function import LambdaFunction
from infra.constructs.nag import managed_policy_arn
from infra.constructs.retention import retention_days
from infra.packaging import MODEL_SUBDIR, PREDICTION_ENVIRONMENT, prediction_code_dir
from propensity.constants import METRIC_NAMESPACE, ApiVersion
from propensity.policy.deployment import DeploymentThresholds
from propensity.promotion.deployments import DEPLOYMENT_GROUP_NAME
from propensity.promotion.stage import LIVE_ALIAS
from propensity.service.metric_names import DIMENSION_API, DIMENSION_MODEL, SERVER_ERRORS

# The names the rollback command (propensity.promotion) finds the function and alias by.
ALIAS_NAME = LIVE_ALIAS
HANDLER = "predict_handler.lambda_handler"
# EMF count of HTTP 5xx the service answers, by ApiVersion and ModelVersion (the app turns its own
# failures into 500s, so Lambda counts a success; only the service can count them).
SERVER_ERRORS_METRIC = SERVER_ERRORS
# How cdk-nag names the CodeDeploy role's grant on the hooks' versions (``<hook ARN>:*``).
HOOK_VERSIONS_FINDING = r"/^Resource::<.*Hooks(Pre|Post)TrafficFunction.*\.Arn>:\*$/g"


def deployment_config(scope: Construct, settings: PredictionConfig) -> codedeploy.ILambdaDeploymentConfig:
    """The CodeDeploy traffic shifting of a stage: predefined configs where AWS has one, else a custom one."""
    percent, minutes = settings.traffic_percent, settings.traffic_interval_minutes
    if settings.deployment == "all_at_once":
        return codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE
    if settings.deployment == "canary" and (percent, minutes) == (10, 5):
        return codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES
    if settings.deployment == "linear" and (percent, minutes) == (10, 1):
        return codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_1_MINUTE
    routing: codedeploy.TrafficRouting
    if settings.deployment == "canary":
        routing = codedeploy.TrafficRouting.time_based_canary(
            interval=cdk.Duration.minutes(minutes), percentage=percent
        )
    else:
        routing = codedeploy.TrafficRouting.time_based_linear(
            interval=cdk.Duration.minutes(minutes), percentage=percent
        )
    return codedeploy.LambdaDeploymentConfig(scope, "DeploymentConfig", traffic_routing=routing)


class PredictionFunction(Construct):
    """One API version's function with its ``live`` alias and deployment.

    Exposes ``function``, ``log_group``, ``version``, ``alias``, ``deployment_group``, ``alarms``, ``hooks``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: ApiVersion,
        name_prefix: str,
        function_name: str,
        bundle_dir: Path,
        model_version: str,
        settings: PredictionConfig,
        thresholds: DeploymentThresholds,
        layers: list[lambda_.ILayerVersion],
        v1_deprecation_date: date,
        v1_sunset_date: date,
    ) -> None:
        super().__init__(scope, construct_id)
        architecture = (
            lambda_.Architecture.ARM_64 if settings.architecture == "arm64" else lambda_.Architecture.X86_64
        )
        retention = retention_days(settings.log_retention_days)
        self.function_name = function_name
        self.model_version = model_version
        self.lambda_function = LambdaFunction(
            self,
            "Predict",
            function_name=self.function_name,
            code_dir=prediction_code_dir(api, bundle_dir),
            handler=HANDLER,
            layers=layers,
            environment={
                **PREDICTION_ENVIRONMENT,
                "API_VERSIONS": api,
                f"MODEL_DIR_{api.upper()}": MODEL_SUBDIR,
                "V1_DEPRECATION_DATE": v1_deprecation_date.isoformat(),
                "V1_SUNSET_DATE": v1_sunset_date.isoformat(),
                "MODEL_VERSION": model_version,
            },
            memory_mb=settings.memory_mb,
            timeout=cdk.Duration.seconds(settings.timeout_seconds),
            architecture=architecture,
            log_retention=retention,
            reserved_concurrency=settings.reserved_concurrency,
            description=f"Propensity {api} predictions (model {model_version})",
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if settings.snap_start else None,
            # The version description is the model version: `propensity rollback` reads it.
            current_version_options=lambda_.VersionOptions(
                description=model_version, removal_policy=cdk.RemovalPolicy.RETAIN
            ),
        )
        self.function = self.lambda_function.function
        if settings.snap_start:
            # SnapStart applies to published versions: every deployment publishes one (current_version).
            cdk.Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish", "every deployment publishes a version"
            )
        self.log_group = self.lambda_function.log_group
        self.version = self.function.current_version
        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name=ALIAS_NAME,
            version=self.version,
            description=f"What /{api} serves; CodeDeploy shifts it between versions",
            provisioned_concurrent_executions=settings.provisioned_concurrency or None,
        )
        self.alarms = self._rollback_alarms(api, name_prefix, thresholds)
        self.hooks = DeploymentHooks(
            self,
            "Hooks",
            api=api,
            name_prefix=name_prefix,
            bundle_dir=bundle_dir,
            model_version=model_version,
            target_function=self.function,
            thresholds=thresholds,
            v1_dates=(v1_deprecation_date, v1_sunset_date),
            layers=layers,
            architecture=architecture,
            log_retention=retention,
        )
        self.hooks.allow_checks(
            new_version=self.version, function_name=self.function_name, alias_name=ALIAS_NAME
        )
        self.application = codedeploy.LambdaApplication(
            self, "Application", application_name=f"{name_prefix}-predict-{api}"
        )
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "Deployment",
            application=self.application,
            deployment_group_name=DEPLOYMENT_GROUP_NAME.format(function=self.function_name, alias=ALIAS_NAME),
            alias=self.alias,
            deployment_config=deployment_config(self, settings),
            alarms=self.alarms,
            pre_hook=self.hooks.pre_traffic.function,
            post_hook=self.hooks.post_traffic.function,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )
        self.hooks.allow_deployment_lookup(self.deployment_group.deployment_group_arn)
        NagSuppressions.add_resource_suppressions(
            self.deployment_group,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    applies_to=[
                        f"Policy::{managed_policy_arn('service-role/AWSCodeDeployRoleForLambdaLimited')}"
                    ],
                    reason="CodeDeploy's service role for Lambda deployments; the 'Limited' managed policy "
                    "is the AWS-maintained least-privilege set (alias updates, hooks, alarm reads)",
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    applies_to=[
                        RegexAppliesTo(regex=r"/^Resource::<.*Hooks(Pre|Post)TrafficFunction.*\.Arn>:\*$/g")
                    ],
                    reason="CDK's grant to invoke the two hook functions also names their versions (ARN:*); "
                    "CodeDeploy invokes the hooks unqualified, nothing else is granted",
                ),
            ],
            apply_to_children=True,
        )
        # The alarms must watch the new version before any traffic moves to it.
        for alarm in self.alarms:
            self.alias.node.add_dependency(alarm)

    def version_metric(self, metric_name: str, statistic: str) -> cloudwatch.Metric:
        """A Lambda metric of the version being deployed only, as seen through the alias."""
        return cloudwatch.Metric(
            namespace="AWS/Lambda",
            metric_name=metric_name,
            dimensions_map={
                "FunctionName": self.function_name,
                "Resource": f"{self.function_name}:{ALIAS_NAME}",
                "ExecutedVersion": self.version.version,
            },
            statistic=statistic,
            period=cdk.Duration.minutes(1),
        )

    def _rollback_alarms(
        self, api: ApiVersion, name_prefix: str, thresholds: DeploymentThresholds
    ) -> list[cloudwatch.IAlarm]:
        prefix = f"{name_prefix}-predict-{api}-new-version"
        not_breaching = cloudwatch.TreatMissingData.NOT_BREACHING
        errors = cloudwatch.Alarm(
            self,
            "NewVersionErrors",
            alarm_name=f"{prefix}-errors",
            alarm_description=(
                f"Rollback: unhandled errors of the {api} version being deployed (ExecutedVersion dimension)"
            ),
            metric=self.version_metric("Errors", "Sum").with_(
                period=cdk.Duration.minutes(thresholds.new_version_errors_minutes)
            ),
            threshold=thresholds.new_version_errors,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=not_breaching,
        )
        latency = cloudwatch.Alarm(
            self,
            "NewVersionLatency",
            alarm_name=f"{prefix}-p99-duration",
            alarm_description=f"Rollback: p99 duration of the {api} version being deployed",
            metric=self.version_metric("Duration", "p99"),
            threshold=thresholds.new_version_p99_duration_ms,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=thresholds.latency_minutes,
            datapoints_to_alarm=thresholds.latency_breaching_minutes,
            treat_missing_data=not_breaching,
        )
        # The app answers its own failures with HTTP 500 (Lambda sees a success), so 5xx are
        # counted by the service per model version: the new model version is the new Lambda version.
        server_errors = cloudwatch.Alarm(
            self,
            "NewVersionServerErrors",
            alarm_name=f"{prefix}-5xx",
            alarm_description=f"Rollback: HTTP 5xx answered by {api} model {self.model_version}",
            metric=cloudwatch.Metric(
                namespace=METRIC_NAMESPACE,
                metric_name=SERVER_ERRORS_METRIC,
                dimensions_map={DIMENSION_API: api, DIMENSION_MODEL: self.model_version},
                statistic="Sum",
                period=cdk.Duration.minutes(thresholds.new_version_server_errors_minutes),
            ),
            threshold=thresholds.new_version_server_errors,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=not_breaching,
        )
        return [errors, latency, server_errors]

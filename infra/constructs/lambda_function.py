"""One Lambda function the way every function here is built.

Its own role (least privilege: grants are added by the stack), an explicit log group with
retention, X-Ray tracing, arm64 by default, the shared layers, Powertools environment.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from propensity.constants import METRIC_NAMESPACE

RUNTIME = lambda_.Runtime.PYTHON_3_12


class LambdaFunction(Construct):
    """A function with its own role and log group. Exposes ``function``, ``role``, ``log_group``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_name: str,
        code_dir: Path,
        handler: str,
        layers: list[lambda_.ILayerVersion],
        environment: dict[str, str] | None = None,
        memory_mb: int = 512,
        timeout: cdk.Duration = cdk.Duration.seconds(30),
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        reserved_concurrency: int | None = None,
        description: str = "",
        snap_start: lambda_.SnapStartConf | None = None,
        current_version_options: lambda_.VersionOptions | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=log_retention,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of {function_name} (its own, least privilege)",
        )
        # Logs written explicitly rather than via AWS managed policies (cdk-nag IAM4).
        self.log_group.grant_write(self.role)
        # Active tracing makes CDK add xray:PutTraceSegments/PutTelemetryRecords on "*" to this
        # role's default policy: X-Ray has no resource-level permissions for them.
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    applies_to=["Resource::*"],
                    reason="xray:PutTraceSegments and PutTelemetryRecords have no resource-level permissions "
                    "(added by CDK for active tracing); keep other wildcard grants off this role",
                )
            ],
            apply_to_children=True,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            runtime=RUNTIME,
            architecture=architecture,
            code=lambda_.Code.from_asset(str(code_dir)),
            handler=handler,
            layers=layers,
            role=self.role,
            memory_size=memory_mb,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            reserved_concurrent_executions=reserved_concurrency,
            snap_start=snap_start,
            current_version_options=current_version_options,
            environment={
                "POWERTOOLS_SERVICE_NAME": function_name,
                "POWERTOOLS_METRICS_NAMESPACE": METRIC_NAMESPACE,
                "LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )

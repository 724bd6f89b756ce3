"""One Lambda function the way every function here is built.

Its own role (least privilege: grants are added by the stack), an explicit log group with
retention, X-Ray tracing, arm64 by default, the shared layers, Powertools environment.

Hardened once here, for every function (what checkov asks of each, see docs/reliability.md):

- a dead-letter queue for failed asynchronous invocations (its own, KMS-encrypted, 14 days),
  unless the caller routes failures to an on-failure destination and says so;
- the log group and the environment variables encrypted with the stack's functions key;
- a reserved concurrency (``DEFAULT_RESERVED_CONCURRENCY`` unless the caller sets one), so
  one runaway trigger cannot take the account's whole concurrency from the API;
- no VPC, on purpose (checkov CKV_AWS_117 is answered inline with the reason).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.constructs.function_key import function_key
from propensity.constants import METRIC_NAMESPACE

RUNTIME = lambda_.Runtime.PYTHON_3_12
# Scheduled jobs and S3-triggered workers need one or a few at a time; a throttled
# asynchronous event is kept and retried by Lambda (up to its maximum event age).
DEFAULT_RESERVED_CONCURRENCY = 2
DEAD_LETTER_RETENTION = cdk.Duration.days(14)
NO_VPC_REASON = (
    "No VPC on purpose: the functions reach only AWS APIs (S3, CloudWatch, Secrets Manager, SQS, KMS) "
    "and HTTPS providers (PagerDuty, Slack), never a private network resource. A VPC would add NAT "
    "gateways (about 35 USD a month per AZ) or 6+ interface endpoints (about 8 USD a month each per AZ) "
    "and ENI cold-start latency, for no data that is not already behind IAM and TLS."
)


def checkov_skip(resource: cdk.CfnResource, check: str, reason: str) -> None:
    """An inline checkov suppression with its reason (read from the template's Metadata)."""
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"] = [*metadata["skip"], {"id": check, "comment": reason}]
    resource.add_metadata("checkov", metadata)


def dead_letter_queue(scope: Construct, construct_id: str, queue_name: str) -> sqs.Queue:
    """A KMS-encrypted, TLS-only dead-letter queue with two weeks to notice and redrive."""
    queue = sqs.Queue(
        scope,
        construct_id,
        queue_name=queue_name,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=function_key(scope),
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )
    NagSuppressions.add_resource_suppressions(
        queue,
        [NagPackSuppression(id="AwsSolutions-SQS3", reason="This queue is itself a dead-letter queue")],
    )
    return queue


class LambdaFunction(Construct):
    """A function with its own role and log group. Exposes ``function``, ``role``, ``log_group``,
    ``key`` (the stack's functions key) and ``dead_letter_queue`` (``None`` when the caller routes
    failures elsewhere: then ``failures_routed_by`` says where, and checkov is told so)."""

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
        failures_routed_by: str | None = None,
        description: str = "",
        snap_start: lambda_.SnapStartConf | None = None,
        current_version_options: lambda_.VersionOptions | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = function_key(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=log_retention,
            encryption_key=self.key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # ``failures_routed_by``: an on-failure destination configured by the caller. A
        # dead-letter queue as well would receive every failure a second time.
        self.function_name = function_name
        self.dead_letter_queue_name = f"{function_name}-dlq"
        self.dead_letter_queue: sqs.Queue | None = (
            None
            if failures_routed_by
            else dead_letter_queue(self, "DeadLetters", self.dead_letter_queue_name)
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
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    applies_to=["Action::kms:ReEncrypt*", "Action::kms:GenerateDataKey*"],
                    reason="CDK's grant for sending to the KMS-encrypted dead-letter queue; the resource is "
                    "the stack's functions key alone, and those action families are what SQS encryption "
                    "needs",
                ),
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
            reserved_concurrent_executions=reserved_concurrency or DEFAULT_RESERVED_CONCURRENCY,
            dead_letter_queue=self.dead_letter_queue,
            environment_encryption=self.key,
            snap_start=snap_start,
            current_version_options=current_version_options,
            environment={
                "POWERTOOLS_SERVICE_NAME": function_name,
                "POWERTOOLS_METRICS_NAMESPACE": METRIC_NAMESPACE,
                "LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
        cfn = self.function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        checkov_skip(cfn, "CKV_AWS_117", NO_VPC_REASON)
        if failures_routed_by:
            checkov_skip(
                cfn,
                "CKV_AWS_116",
                f"Failed asynchronous invocations go to {failures_routed_by} "
                "(an on-failure destination, which records the error too); a DLQ as well would "
                "receive each failure twice",
            )

"""One KMS key per stack for what its functions hold at rest: logs, environment, dead letters.

A customer-managed key (not the AWS-owned default) so that reading a function's logs or
environment needs a grant on this key, visible in IAM and CloudTrail. One key per stack, not
per function: a key costs 1 USD a month and the functions of a stack share their trust.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

KEY_ID = "FunctionsKey"


def function_key(scope: Construct) -> kms.Key:
    """The stack's functions key, created on first use."""
    stack = cdk.Stack.of(scope)
    existing = stack.node.try_find_child(KEY_ID)
    if isinstance(existing, kms.Key):
        return existing
    key = kms.Key(
        stack,
        KEY_ID,
        description=f"Encrypts the logs, environment variables and dead-letter queues of {stack.stack_name}",
        enable_key_rotation=True,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    # CloudWatch Logs encrypts with the key itself (not the writer's role), for this account's
    # log groups only: the condition AWS documents for KMS-encrypted log groups.
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsEncrypt",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],  # in a key policy "*" is this key
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )
    return key

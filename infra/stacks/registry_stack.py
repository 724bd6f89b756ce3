"""The stage's model registry: an S3 bucket and the KMS key that signs its records.

Deployed before the service stacks (they and the jobs read it). The bucket is versioned,
encrypted with its own KMS key, TLS-only, private, with Object Lock in governance mode: a
bundle or record version cannot be deleted or overwritten for ``object_lock_days`` except by a
principal explicitly allowed to bypass governance retention. Its server access logs go to a
log bucket of their own.

The signing key (ECC_NIST_P256, SIGN_VERIFY) is what makes a record trustworthy: readers
verify every registration, gate, approval and alias record with kms:Verify, so write access
to the bucket alone cannot forge one. Its key policy (see docs/promotion.md):

- ``KeyAdministration``: the account may administer the key (describe, enable, tag, rotate
  the policy, schedule deletion), but this statement grants neither kms:Sign nor kms:Verify.
- ``PublishersSign``: only the publisher role (``propensity-<stage>-registry-publisher``,
  assumed by whoever runs ``propensity promote``/``approve``/``gate`` or CI) may kms:Sign.
- ``AccountVerifies``: kms:Verify / GetPublicKey / DescribeKey are delegated to IAM in the
  account; the shadow scorer and the jobs get them through their roles.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StageConfig, registry_bucket_name
from propensity.registry.factory import signing_key_alias

ADMIN_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
VERIFY_ACTIONS = ["kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"]


class RegistryStack(cdk.Stack):
    """Exposes ``bucket``, ``location`` (``s3://...``), ``signing_key``, ``data_key``, ``publisher``."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        name = registry_bucket_name(config.stage, config.account, config.region)
        prefix = f"propensity-{config.stage}"
        account = iam.AccountRootPrincipal()

        self.publisher = iam.Role(
            self,
            "Publisher",
            role_name=config.registry.publisher_role_name or f"{prefix}-registry-publisher",
            assumed_by=account,
            description="Signs and writes registry records (propensity promote, approve, gate; CI)",
            max_session_duration=cdk.Duration.hours(1),
        )

        self.signing_key = kms.Key(
            self,
            "SigningKey",
            key_spec=kms.KeySpec.ECC_NIST_P256,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            description=f"Signs the {config.stage} model registry's records (kms:Sign: the publisher only)",
            removal_policy=cdk.RemovalPolicy.RETAIN,
            policy=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="KeyAdministration", principals=[account], actions=ADMIN_ACTIONS, resources=["*"]
                    ),
                    iam.PolicyStatement(
                        sid="PublishersSign",
                        principals=[iam.ArnPrincipal(self.publisher.role_arn)],
                        actions=["kms:Sign", "kms:DescribeKey"],
                        resources=["*"],
                    ),
                    iam.PolicyStatement(
                        sid="AccountVerifies", principals=[account], actions=VERIFY_ACTIONS, resources=["*"]
                    ),
                ]
            ),
        )
        self.signing_key.add_alias(signing_key_alias(name))

        self.data_key = kms.Key(
            self,
            "DataKey",
            enable_key_rotation=True,
            description=f"Encrypts the {config.stage} model registry bucket",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(id="expire", expiration=cdk.Duration.days(365))],
        )
        NagSuppressions.add_resource_suppressions(
            self.access_logs,
            [NagPackSuppression(id="AwsSolutions-S1", reason="This is the access-log bucket itself")],
        )
        lock = config.registry.object_lock_days
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=name,
            versioned=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.data_key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            object_lock_enabled=True,
            object_lock_default_retention=(
                s3.ObjectLockRetention.governance(cdk.Duration.days(lock)) if lock else None
            ),
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="registry/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.location = f"s3://{name}"
        self.bucket.grant_read_write(self.publisher)
        self.signing_key.grant(self.publisher, "kms:Sign", "kms:DescribeKey", "kms:GetPublicKey")
        NagSuppressions.add_resource_suppressions(
            self.publisher,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="The publisher writes bundles and records anywhere in its registry bucket (keys "
                    "are per version and record) and uses CDK's standard KMS data-key grant for it",
                )
            ],
            apply_to_children=True,
        )
        for output, value in (
            ("RegistryLocation", self.location),
            ("RegistrySigningKeyArn", self.signing_key.key_arn),
            ("RegistryPublisherRoleArn", self.publisher.role_arn),
        ):
            cdk.CfnOutput(self, output, value=value).override_logical_id(output)

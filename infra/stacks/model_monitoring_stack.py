"""Model behaviour monitoring (issues 6 and 7): the prediction archive, drift, shadow, evaluation.

Thin: composes one construct per capability over the archive bucket, with the service stack's
log groups, layers and shipped bundles and the monitoring stack's alert topics. Exposes
``archive`` (the construct), ``archive_bucket``, ``layers``, ``drift``, ``shadow`` (``None``
when the stage has no ``s3://`` registry to follow a challenger in) and ``evaluation``.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.archive import PredictionArchive
from infra.constructs.drift import DEFAULT_RUNBOOK_URL, DriftMonitor, registry_location
from infra.constructs.evaluation import Evaluation
from infra.constructs.layers import shared_layers
from infra.constructs.nag import suppress_python_runtime_finding
from infra.constructs.retraining import Retraining
from infra.constructs.shadow import ShadowScoring


class ModelMonitoringStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        service: Any,
        monitoring: Any,
        registry_stack: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        prefix = f"propensity-{config.stage}"
        runbook_url = str(self.node.try_get_context("runbook_url") or DEFAULT_RUNBOOK_URL)
        topics = dict(monitoring.topics)
        self.layers = shared_layers(self, architecture=config.prediction.architecture)

        self.archive = PredictionArchive(
            self, "Archive", name_prefix=prefix, log_groups=dict(service.log_groups)
        )
        self.archive_bucket: s3.Bucket = self.archive.bucket
        self.drift = DriftMonitor(
            self,
            "Drift",
            bucket=self.archive_bucket,
            config=config,
            topics=topics,
            layers=self.layers,
            bundle_dirs=dict(getattr(service, "bundle_dirs", {}) or {}),
            runbook_url=runbook_url,
            query=self.archive.query,
        )
        registry = registry_location(config)
        self.shadow: ShadowScoring | None = (
            ShadowScoring(
                self,
                "Shadow",
                bucket=self.archive_bucket,
                registry=registry,
                config=config,
                topics=topics,
                layers=self.layers,
                runbook_url=runbook_url,
            )
            if registry
            else None
        )
        # Monthly retraining needs a registry AWS can write to (an s3:// pin), like shadow scoring.
        self.retraining: Retraining | None = (
            Retraining(
                self,
                "Retraining",
                name_prefix=prefix,
                archive=self.archive_bucket,
                registry=registry,
                topics=topics,
                settings=config.retraining,
                gate=config.gate,
            )
            if registry and config.retraining.enabled
            else None
        )
        if self.retraining is None:
            cdk.Annotations.of(self).add_info(
                "no monthly retraining in this stage: retraining.enabled is false in cdk.json"
                if registry
                else "no monthly retraining in this stage: its models are pinned to a local registry folder; "
                "pin an s3:// registry in cdk.json to schedule `propensity retrain`",
            )
        self.evaluation = Evaluation(
            self,
            "Evaluation",
            bucket=self.archive_bucket,
            topics=topics,
            config=config,
            layers=self.layers,
            bundle_dirs=dict(getattr(service, "bundle_dirs", {}) or {}),
            runbook_url=runbook_url,
            query=self.archive.query,
        )

        if registry_stack is not None:
            self._read_registry(registry_stack)

        for name, value in (
            ("ArchiveBucketName", self.archive_bucket.bucket_name),
            ("ArchiveDeliveryStreamName", self.archive.delivery_stream.delivery_stream_name),
            ("ArchiveGlueTable", f"{self.archive.database.ref}.predictions"),
            ("OutcomesGlueTable", f"{self.archive.database.ref}.outcomes"),
            ("ArchiveAthenaWorkgroup", self.archive.workgroup.ref),
        ):
            output = cdk.CfnOutput(self, name, value=value)
            output.override_logical_id(name)
        self._suppress_findings()

    def _read_registry(self, registry: Any) -> None:
        """The jobs that read the registry decrypt its objects and verify its records' signatures."""
        from infra.stacks.registry_stack import VERIFY_ACTIONS
        from propensity.registry.signing import SIGNING_KEY_ENV

        readers = [self.drift.job, self.evaluation.evaluate] + ([self.shadow.scorer] if self.shadow else [])
        for reader in readers:
            registry.data_key.grant_decrypt(reader.role)
            registry.signing_key.grant(reader.role, *VERIFY_ACTIONS)
            reader.function.add_environment(SIGNING_KEY_ENV, registry.signing_key.key_arn)

    def _suppress_findings(self) -> None:
        suppress_python_runtime_finding(self)
        # S3 event notifications are configured by CDK's singleton custom resource handler.
        handler = self.node.try_find_child("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")
        if handler is not None:
            NagSuppressions.add_resource_suppressions(
                handler,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM4",
                        reason="CDK's bucket-notifications custom resource uses the AWS managed basic "
                        "execution policy for its own logs",
                    ),
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        reason="CDK's bucket-notifications custom resource needs s3:PutBucketNotification on "
                        "the buckets it configures (CDK scopes it with a wildcard)",
                    ),
                ],
                apply_to_children=True,
            )

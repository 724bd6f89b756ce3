"""The prediction archive: CloudWatch Logs subscription -> Firehose -> S3 (gzip JSON lines), Glue, Athena.

Each prediction function prints one PredictionEvent per scored record as a plain JSON line.
A subscription filter ``{ $.event = "PredictionEvent" }`` on each function's log group sends
those lines to one Firehose stream whose built-in processors decompress the CloudWatch Logs
envelope and extract the message (no transformation Lambda to run, pay for or break), then
append a newline; Firehose gzips and writes ``predictions/YYYY/MM/DD/HH/`` (UTC hour of
arrival). The archive reader also accepts blank lines and objects glued without a newline,
so neither a missing nor a doubled delimiter loses an event.

Refused v1 calls print a ``RejectedRequest`` line instead (``service.core.rejections``): a
second filter ``{ $.event = "RejectedRequest" }`` on v1's log group feeds a second, identical
stream that writes ``rejections/YYYY/MM/DD/HH/``, so ``propensity v1-usage --archive
s3://...`` counts refused calls as the local archive does, and the jobs, which read only
``predictions/``, never see them. (v1's log group then has the two subscription filters
CloudWatch Logs allows; v2 refusals are not recorded, so v2's has one.)

The bucket is KMS-encrypted with a rotating key, versioned, TLS-only, logged, and keeps data
by prefix: predictions move to cheaper storage classes and expire after two years; derived
results (drift, shadow) and Firehose's error output expire sooner; old object versions after
30 days. Glue tables (the predictions, with partition projection over the hour folders, and the
accepted outcomes) are what the drift and evaluation jobs query with Athena; the workgroup
keeps results encrypted and cancels any query past its bytes-scanned limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as log_destinations
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.constructs.lambda_function import checkov_skip
from propensity.constants import ARCHIVE_PREDICTIONS_PREFIX, EVENT_LOG_MARKER, ApiVersion
from propensity.labels.layout import ACCEPTED_PREFIX
from propensity.query.schema import (
    OUTCOME_COLUMNS,
    OUTCOMES_TABLE,
    PARTITION_COLUMN,
    PREDICTION_COLUMNS,
    PREDICTIONS_TABLE,
    Column,
)
from propensity.service.core.rejections import ARCHIVE_REJECTIONS_PREFIX, REJECTION_LOG_MARKER

FIREHOSE_ERRORS_PREFIX = "firehose-errors/"
ATHENA_RESULTS_PREFIX = "athena-results/"
# The filter the subscription applies to each prediction function's log stream.
EVENT_FILTER_FIELD = "$.event"


@dataclass(frozen=True)
class ArchiveRetention:
    """Lifecycle of the archive bucket, by prefix (days)."""

    predictions_infrequent_access_days: int = 30
    predictions_glacier_days: int = 180
    predictions_expire_days: int = 730
    rejections_expire_days: int = 730  # as long as the calls they count: v1's sunset looks back
    derived_expire_days: int = 400  # drift/ and shadow/ results: a year of trending, and a margin
    errors_expire_days: int = 90
    athena_results_expire_days: int = 30
    noncurrent_versions_expire_days: int = 30
    access_logs_expire_days: int = 365


# Glue columns from the stored shapes (propensity.query.schema: the DuckDB views use the same) -----


def glue_columns(columns: tuple[Column, ...] = PREDICTION_COLUMNS) -> list[glue.CfnTable.ColumnProperty]:
    """One Glue column per field of the stored shape, in its order (the schema is the source)."""
    return [glue.CfnTable.ColumnProperty(name=c.name, type=c.hive, comment=c.comment) for c in columns]


@dataclass(frozen=True)
class ArchiveQuery:
    """What a job needs to query the archive with Athena: names for its environment, and a grant."""

    workgroup: str
    database: str
    workgroup_arn: str
    catalog_arns: tuple[str, ...]
    bucket: s3.IBucket
    key: kms.IKey

    @property
    def environment(self) -> dict[str, str]:
        return {"ATHENA_WORKGROUP": self.workgroup, "GLUE_DATABASE": self.database}

    def grant(self, role: iam.IRole) -> None:
        """Run queries in the workgroup over the two tables, and read and write their results."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                ],
                resources=[self.workgroup_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions"],
                resources=list(self.catalog_arns),
            )
        )
        # Athena reads the tables' objects and writes results with the caller's permissions.
        for prefix in (ARCHIVE_PREDICTIONS_PREFIX, ACCEPTED_PREFIX, ATHENA_RESULTS_PREFIX):
            self.bucket.grant_read(role, f"{prefix}*")
        self.bucket.grant_put(role, f"{ATHENA_RESULTS_PREFIX}*")
        self.key.grant_encrypt_decrypt(role)


class PredictionArchive(Construct):
    """Exposes ``bucket``, ``key``, ``access_logs``, ``delivery_stream``, ``subscriptions`` (by API
    version), ``rejections_stream`` and ``rejection_subscription`` (v1's refused calls, when v1 is
    served), ``database``, ``table``, ``outcomes_table``, ``workgroup`` and ``query`` (for the jobs)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        log_groups: Mapping[ApiVersion, logs.ILogGroup],
        retention: ArchiveRetention = ArchiveRetention(),
        buffering_interval: cdk.Duration = cdk.Duration.minutes(5),
        buffering_size: cdk.Size = cdk.Size.mebibytes(64),
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        bytes_scanned_cutoff: int = 500 * 2**30,
    ) -> None:
        super().__init__(scope, construct_id)
        # Deliver server access logs through a bucket policy rather than the legacy
        # LogDeliveryWrite ACL (object ownership stays "bucket owner enforced").
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{name_prefix}-archive",
            description="Encrypts the prediction archive (S3 objects and Athena results)",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        # Server access logs cannot be delivered to a KMS-encrypted bucket: this one uses SSE-S3.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire", expiration=cdk.Duration.days(retention.access_logs_expire_days))
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.access_logs,
            [
                NagPackSuppression(
                    id="AwsSolutions-S1",
                    reason="This is the access-log bucket of the archive; logging it to itself would loop",
                )
            ],
        )
        for check, why in (
            ("CKV_AWS_18", "This is the access-log bucket of the archive; logging it to itself would loop"),
            ("CKV_AWS_21", "Access logs are written once by S3 log delivery and expire by lifecycle"),
        ):
            checkov_skip(self.access_logs.node.default_child, check, why)  # type: ignore[arg-type]
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="archive/",
            removal_policy=removal_policy,
            lifecycle_rules=self._lifecycle(retention),
        )

        def stream(construct_id: str, name: str, prefix: str, logs_id: str) -> firehose.DeliveryStream:
            """A stream that unwraps CloudWatch Logs records into gzip JSON lines under ``prefix``
            (its delivery errors in its own log group: Firehose names the stream in it)."""
            stream_logs = logs.LogGroup(
                self, logs_id, retention=logs.RetentionDays.THREE_MONTHS, removal_policy=removal_policy
            )
            destination = firehose.S3Bucket(
                self.bucket,
                data_output_prefix=f"{prefix}!{{timestamp:yyyy/MM/dd/HH}}/",
                error_output_prefix=(
                    f"{FIREHOSE_ERRORS_PREFIX}{'' if prefix == ARCHIVE_PREDICTIONS_PREFIX else prefix}"
                    "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
                ),
                compression=firehose.Compression.GZIP,
                encryption_key=self.key,
                buffering_interval=buffering_interval,
                buffering_size=buffering_size,
                logging_config=firehose.EnableLogging(stream_logs),
                processors=[
                    firehose.DecompressionProcessor(),
                    firehose.CloudWatchLogProcessor(data_message_extraction=True),
                    firehose.AppendDelimiterToRecordProcessor(),
                ],
            )
            return firehose.DeliveryStream(
                self,
                construct_id,
                delivery_stream_name=name,
                destination=destination,
                encryption=firehose.StreamEncryption.aws_owned_key(),
            )

        self.delivery_stream = stream(
            "Stream", f"{name_prefix}-predictions", ARCHIVE_PREDICTIONS_PREFIX, "FirehoseLogs"
        )
        self.subscriptions: dict[ApiVersion, logs.SubscriptionFilter] = {}
        for api, log_group in sorted(log_groups.items()):
            self.subscriptions[api] = logs.SubscriptionFilter(
                self,
                f"Subscription{api.upper()}",
                log_group=log_group,
                destination=log_destinations.FirehoseDestination(self.delivery_stream),
                filter_pattern=logs.FilterPattern.string_value(EVENT_FILTER_FIELD, "=", EVENT_LOG_MARKER),
                filter_name=f"{name_prefix}-prediction-events-{api}",
            )
        self.rejections_stream: firehose.DeliveryStream | None = None
        self.rejection_subscription: logs.SubscriptionFilter | None = None
        if "v1" in log_groups:
            self.rejections_stream = stream(
                "RejectionsStream",
                f"{name_prefix}-rejections",
                ARCHIVE_REJECTIONS_PREFIX,
                "RejectionsFirehoseLogs",
            )
            self.rejection_subscription = logs.SubscriptionFilter(
                self,
                "RejectionsSubscriptionV1",
                log_group=log_groups["v1"],
                destination=log_destinations.FirehoseDestination(self.rejections_stream),
                filter_pattern=logs.FilterPattern.string_value(EVENT_FILTER_FIELD, "=", REJECTION_LOG_MARKER),
                filter_name=f"{name_prefix}-rejected-requests-v1",
            )

        database_name = f"{name_prefix}-archive".replace("-", "_")
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=cdk.Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description="The prediction archive (PredictionEvents)"
            ),
        )
        location = f"s3://{self.bucket.bucket_name}/{ARCHIVE_PREDICTIONS_PREFIX}"
        self.table = glue.CfnTable(
            self,
            "PredictionsTable",
            catalog_id=cdk.Aws.ACCOUNT_ID,
            database_name=database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=PREDICTIONS_TABLE,
                description="One row per PredictionEvent; partition dt: the archive hour, yyyy/MM/dd/HH UTC",
                table_type="EXTERNAL_TABLE",
                partition_keys=[glue.CfnTable.ColumnProperty(name=PARTITION_COLUMN, type="string")],
                parameters={
                    "classification": "json",
                    "compressionType": "gzip",
                    "projection.enabled": "true",
                    "projection.dt.type": "date",
                    "projection.dt.format": "yyyy/MM/dd/HH",
                    "projection.dt.range": "2025/01/01/00,NOW",
                    "projection.dt.interval": "1",
                    "projection.dt.interval.unit": "HOURS",
                    "storage.location.template": location + "${dt}/",
                },
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    columns=glue_columns(),
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    compressed=True,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.openx.data.jsonserde.JsonSerDe",
                        # A damaged line must not fail a whole query.
                        parameters={"ignore.malformed.json": "true", "case.insensitive": "false"},
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(self.database)
        # The outcome store beside the archive: the accepted rows of every ingested label file.
        self.outcomes_table = glue.CfnTable(
            self,
            "OutcomesTable",
            catalog_id=cdk.Aws.ACCOUNT_ID,
            database_name=database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=OUTCOMES_TABLE,
                description="One row per accepted outcome (labels ingestion writes outcomes/accepted/)",
                table_type="EXTERNAL_TABLE",
                parameters={"classification": "json"},
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=f"s3://{self.bucket.bucket_name}/{ACCEPTED_PREFIX}",
                    columns=glue_columns(OUTCOME_COLUMNS),
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.openx.data.jsonserde.JsonSerDe",
                        parameters={"ignore.malformed.json": "true", "case.insensitive": "false"},
                    ),
                ),
            ),
        )
        self.outcomes_table.node.add_dependency(self.database)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=f"{name_prefix}-archive",
            description="Queries over the prediction archive; results encrypted with the archive key",
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                # A runaway query is cancelled, not billed: well above one evaluation window at
                # 100M predictions a day (docs/performance.md, "Monitoring jobs").
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.bucket.bucket_name}/{ATHENA_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=self.key.key_arn
                    ),
                ),
            ),
        )
        stack = cdk.Stack.of(self)
        catalog = f"arn:{stack.partition}:glue:{stack.region}:{stack.account}"
        self.query = ArchiveQuery(
            workgroup=self.workgroup.name,
            database=database_name,
            workgroup_arn=f"arn:{stack.partition}:athena:{stack.region}:{stack.account}:workgroup/{self.workgroup.name}",
            catalog_arns=(
                f"{catalog}:catalog",
                f"{catalog}:database/{database_name}",
                f"{catalog}:table/{database_name}/{PREDICTIONS_TABLE}",
                f"{catalog}:table/{database_name}/{OUTCOMES_TABLE}",
            ),
            bucket=self.bucket,
            key=self.key,
        )
        self._suppress_findings()

    @staticmethod
    def _lifecycle(retention: ArchiveRetention) -> list[s3.LifecycleRule]:
        days = cdk.Duration.days
        return [
            s3.LifecycleRule(
                id="predictions",
                prefix=ARCHIVE_PREDICTIONS_PREFIX,
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                        transition_after=days(retention.predictions_infrequent_access_days),
                    ),
                    s3.Transition(
                        storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                        transition_after=days(retention.predictions_glacier_days),
                    ),
                ],
                expiration=days(retention.predictions_expire_days),
            ),
            s3.LifecycleRule(
                id="rejections",
                prefix=ARCHIVE_REJECTIONS_PREFIX,
                expiration=days(retention.rejections_expire_days),
            ),
            s3.LifecycleRule(id="drift", prefix="drift/", expiration=days(retention.derived_expire_days)),
            s3.LifecycleRule(id="shadow", prefix="shadow/", expiration=days(retention.derived_expire_days)),
            s3.LifecycleRule(
                id="firehose-errors",
                prefix=FIREHOSE_ERRORS_PREFIX,
                expiration=days(retention.errors_expire_days),
            ),
            s3.LifecycleRule(
                id="athena-results",
                prefix=ATHENA_RESULTS_PREFIX,
                expiration=days(retention.athena_results_expire_days),
            ),
            s3.LifecycleRule(
                id="old-versions-and-uploads",
                noncurrent_version_expiration=days(retention.noncurrent_versions_expire_days),
                abort_incomplete_multipart_upload_after=days(7),
            ),
        ]

    def _suppress_findings(self) -> None:
        for stream in (self.delivery_stream, self.rejections_stream):
            if stream is not None:
                self._suppress_stream_findings(stream)

    @staticmethod
    def _suppress_stream_findings(stream: firehose.DeliveryStream) -> None:
        NagSuppressions.add_resource_suppressions(
            stream,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="Firehose's role writes any object under the archive prefixes it delivers to "
                    "(object keys carry the hour and a generated name) and uses the archive key for it; "
                    "this is CDK's bucket and key grant",
                )
            ],
            apply_to_children=True,
        )

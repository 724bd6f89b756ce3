"""Monthly retraining from production outcomes (issue 12): a CodeBuild project on a schedule.

Why CodeBuild and not a Lambda: scikit-learn + SciPy + NumPy (+ DuckDB for the archive join)
unzipped for Python 3.12 on arm64 measure more than Lambda's 250 MB limit for a function and
all its layers together (figures in docs/model.md), and a full retrain with its 10-month
backtest takes minutes of CPU. A managed CodeBuild image (no Docker image to build or patch)
installs the pinned training requirements and runs the same command as on a laptop:

    propensity retrain --api <v> --registry s3://... --archive <local copy of the archive>

The build copies the archive's ``predictions/`` and ``outcomes/accepted/`` to local disk
(monthly volumes are small) and lets DuckDB join them there; the base data is fetched from
UCI and verified against its SHA-256 by the loader. The gate runs inside the command; a
challenger that passes becomes the ``challenger`` alias (the shadow scorer follows it); a
refusal (exit 3) is a normal outcome, not a failed build. Failed builds raise a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_sns as sns
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import RetrainingConfig
from propensity.constants import API_VERSIONS, ApiVersion
from propensity.labels.layout import ACCEPTED_PREFIX
from propensity.policy.gate import GATE_THRESHOLDS_ENV, GateThresholds

ROOT = Path(__file__).resolve().parents[2]
GATE_REFUSED_EXIT = 3  # propensity retrain: the gate refused the challenger (not an error)
# Only what the build needs: the library, its pins and the package metadata.
SOURCE_EXCLUDES = [
    "*",
    "!layers",
    "!layers/domain/**",
    "!requirements",
    "!requirements/**",
    "!pyproject.toml",
]
SOURCE_EXCLUDES += ["**/__pycache__", "**/*.egg-info"]


def schedule_of(settings: RetrainingConfig) -> events.Schedule:
    return events.Schedule.cron(minute="0", hour=str(settings.hour_utc), day=str(settings.day_of_month))


def retrain_command(api: ApiVersion, settings: RetrainingConfig) -> str:
    """The build's command for one API version: the stage's config, mode and backtest."""
    flags = [f"--config {settings.config_for(api)}", f"--jobs {settings.jobs}"]
    if settings.mode == "recalibrate":
        flags.append("--recalibrate-only")
    if settings.backtest_months is not None:
        flags.append(f"--backtest-months {settings.backtest_months}")
    return (
        f'propensity retrain --api {api} --registry "$REGISTRY" --archive archive {" ".join(flags)} '
        f"|| [ $? -eq {GATE_REFUSED_EXIT} ]"
    )


def buildspec(apis: tuple[ApiVersion, ...], settings: RetrainingConfig | None = None) -> codebuild.BuildSpec:
    settings = settings or RetrainingConfig()
    commands = [f"( {retrain_command(api, settings)} ) || exit 1" for api in apis]
    return codebuild.BuildSpec.from_object(
        {
            "version": "0.2",
            "env": {"variables": {"OMP_NUM_THREADS": "1"}},
            "phases": {
                "install": {
                    "runtime-versions": {"python": "3.12"},
                    "commands": [
                        "pip install --quiet -r requirements/runtime.txt -r requirements/train.txt",
                        "pip install --quiet --no-deps .",
                    ],
                },
                "build": {
                    "commands": [
                        'aws s3 sync "s3://$ARCHIVE_BUCKET/predictions/" archive/predictions/ '
                        "--only-show-errors",
                        f'aws s3 sync "s3://$ARCHIVE_BUCKET/{ACCEPTED_PREFIX}" archive/{ACCEPTED_PREFIX} '
                        "--only-show-errors",
                        *commands,
                    ]
                },
            },
        }
    )


class Retraining(Construct):
    """The monthly retraining project, its schedule and its failure alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        archive: s3.IBucket,
        registry: str,
        topics: Mapping[str, sns.ITopic],
        settings: RetrainingConfig | None = None,
        gate: GateThresholds | None = None,
        apis: tuple[ApiVersion, ...] = API_VERSIONS,
    ) -> None:
        settings = settings or RetrainingConfig()
        gate = gate or GateThresholds()
        super().__init__(scope, construct_id)
        key = kms.Key(self, "Key", enable_key_rotation=True, description=f"{name_prefix} retraining builds")
        source = assets.Asset(self, "Source", path=str(ROOT), exclude=SOURCE_EXCLUDES)
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.project = codebuild.Project(
            self,
            "Project",
            project_name=f"{name_prefix}-retrain",
            description="Monthly retrain from production outcomes: train, gate, register as challenger",
            source=codebuild.Source.s3(bucket=source.bucket, path=source.s3_object_key),
            build_spec=buildspec(apis, settings),
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0,
                compute_type=getattr(codebuild.ComputeType, settings.compute),
            ),
            environment_variables={
                "REGISTRY": codebuild.BuildEnvironmentVariable(value=registry),
                "ARCHIVE_BUCKET": codebuild.BuildEnvironmentVariable(value=archive.bucket_name),
                # The stage's gate (cdk.json stages.<stage>.gate), the one the promotion reads.
                GATE_THRESHOLDS_ENV: codebuild.BuildEnvironmentVariable(value=gate.model_dump_json()),
            },
            encryption_key=key,
            timeout=cdk.Duration.minutes(settings.timeout_minutes),
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)
            ),
        )
        role = self.project.role
        assert role is not None
        archive.grant_read(role, "predictions/*")
        archive.grant_read(role, f"{ACCEPTED_PREFIX}*")
        self._grant_registry(role, registry)
        events.Rule(
            self, "Schedule", schedule=schedule_of(settings), targets=[targets.CodeBuildProject(self.project)]
        )
        alarm = cloudwatch.Alarm(
            self,
            "FailedBuilds",
            alarm_name=f"{name_prefix}-retrain-failed",
            alarm_description="The monthly retraining build failed (not a gate refusal): see its logs",
            metric=self.project.metric_failed_builds(period=cdk.Duration.hours(6), statistic="Sum"),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if "warning" in topics:
            alarm.add_alarm_action(cw_actions.SnsAction(topics["warning"]))
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="prefix-scoped wildcards: the build reads every object under predictions/ and "
                    "outcomes/accepted/ of the archive and writes new bundles, verdicts and alias records "
                    "under the registry prefix; CodeBuild's generated policy also scopes its log streams "
                    "and reports with wildcards, and the S3 grants' actions (s3:GetObject*, s3:List*)",
                )
            ],
            apply_to_children=True,
        )

    def _grant_registry(self, role: iam.IRole, location: str) -> None:
        """Read the registry; write new bundles, gate verdicts and alias moves (create-only records)."""
        bucket_name, _, prefix = location.removeprefix("s3://").partition("/")
        prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        bucket = s3.Bucket.from_bucket_name(self, "Registry", bucket_name)
        bucket.grant_read_write(role, f"{prefix}*")

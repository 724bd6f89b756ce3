"""Typed stage configuration (dev, prod), read from CDK context and validated at synth.

Thresholds are the library's own policy models (propensity.policy), embedded here so the
alarm, the job and the documentation all read the one value.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from propensity.alerting.tiers import Tier
from propensity.constants import API_VERSIONS, ApiVersion
from propensity.policy.alarms import AlarmThresholds
from propensity.policy.deployment import DeploymentThresholds
from propensity.policy.drift import DriftThresholds
from propensity.policy.evaluation import EvaluationThresholds
from propensity.policy.gate import GateThresholds
from propensity.service.settings import DEFAULT_V1_DEPRECATION_DATE, DEFAULT_V1_SUNSET_DATE
from propensity.training.config import ConfigError, default_config_path, load_config

StageName = Literal["dev", "prod"]
DeploymentStyle = Literal["canary", "linear", "all_at_once"]
# Capabilities a stage can insist on: synth fails when the configuration would leave one out.
# What a deployed stage must have; synth fails for a stage that requires one it would leave out.
# Both follow the registry's records at run time, so both need the stage's s3:// registry.
Capability = Literal["shadow", "experiments"]
DEFAULT_CAPABILITIES: tuple[Capability, ...] = ("shadow", "experiments")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsumerConfig(Strict):
    """One API consumer: its own API key and usage plan."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")]
    rate_limit_rps: Annotated[float, Field(gt=0)] = 50
    burst_limit: Annotated[int, Field(gt=0)] = 100
    quota_per_day: Annotated[int, Field(gt=0)] = 200_000


class ModelPin(Strict):
    """Which registered model version an API version ships (``models.lock.json`` pins win)."""

    version: str
    # The stage's registry: a folder (read by synth itself) or its registry stack's s3:// bucket
    # (followed by the shadow scorer and the jobs; synth reads it through `synth_mirror`).
    registry: str = ".local/registry"


def registry_bucket_name(stage: str, account: str, region: str) -> str:
    """The bucket the stage's registry stack creates (globally unique by account and region)."""
    return f"propensity-{stage}-registry-{account}-{region}"


class RegistryConfig(Strict):
    """The stage's registry stack: a versioned, KMS-encrypted bucket and the record-signing key."""

    deploy: bool = True
    # Object Lock (governance mode): versions of bundles and records cannot be deleted or
    # overwritten for this many days, except by a principal allowed to bypass governance.
    object_lock_days: Annotated[int, Field(ge=0, le=3650)] = 30
    # Who may sign registry records (kms:Sign): the role the publishers (promote, CI) assume.
    publisher_role_name: str | None = None


class PredictionConfig(Strict):
    """The prediction functions (one per API version) and how new versions are rolled out."""

    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 1024
    reserved_concurrency: Annotated[int, Field(ge=1)] = 50
    timeout_seconds: Annotated[int, Field(ge=1, le=29)] = 10
    architecture: Literal["arm64", "x86_64"] = "arm64"
    # SnapStart and provisioned concurrency exclude each other (Lambda refuses both on a version).
    snap_start: bool = True
    provisioned_concurrency: Annotated[int, Field(ge=0)] = 0
    deployment: DeploymentStyle = "canary"
    # canary: this share of traffic for this long, then all; linear: this share more every interval.
    traffic_percent: Annotated[int, Field(ge=1, le=99)] = 10
    traffic_interval_minutes: Annotated[int, Field(ge=1, le=2880)] = 5
    log_retention_days: int = 30

    @model_validator(mode="after")
    def _one_warm_start_strategy(self) -> PredictionConfig:
        if self.snap_start and self.provisioned_concurrency:
            raise ValueError("snap_start and provisioned_concurrency exclude each other: choose one")
        return self


class ApiConfig(Strict):
    """The public edge: API Gateway stage options and the web ACL in front of it."""

    # A regional web ACL refuses oversized bodies (by Content-Length) and known-bad inputs
    # before they reach, and are billed to, a Lambda. About 7 USD a month; off in dev if unwanted.
    waf: bool = True
    access_log_retention_days: int = 90
    # TLS 1.2 minimum (1.3 preferred), forward-secret ciphers only; see docs/deploy.md.
    security_policy: str = "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09"


REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# The retraining build's source is the domain library and its pins only (constructs/retraining.py).
RETRAINING_SOURCE = "layers/domain/"


def _committed_training_configs() -> dict[ApiVersion, str]:
    return {api: default_config_path(api).relative_to(REPOSITORY_ROOT).as_posix() for api in API_VERSIONS}


class RetrainingConfig(Strict):
    """The monthly retraining job: when it runs, what it trains, with what (checked at synth)."""

    enabled: bool = True
    # UTC, early in the month: the previous month's outcomes have had weeks to arrive.
    day_of_month: Annotated[int, Field(ge=1, le=28)] = 1
    hour_utc: Annotated[int, Field(ge=0, le=23)] = 4
    # "retrain": new trees on base data + production outcomes; "recalibrate": the champion's
    # trees with the intercept refitted on the latest labelled month (cheaper, minutes less).
    mode: Literal["retrain", "recalibrate"] = "retrain"
    # Training config per API version (TOML, relative to the repository root, inside the
    # domain library: the build ships only that); default: the committed, backtest-chosen ones.
    configs: dict[ApiVersion, str] = Field(default_factory=_committed_training_configs)
    backtest_months: Annotated[int, Field(ge=1, le=30)] | None = None  # None: each config's own
    jobs: Annotated[int, Field(ge=1, le=8)] = 2  # backtest months trained in parallel
    compute: Literal["SMALL", "MEDIUM", "LARGE"] = "SMALL"
    timeout_minutes: Annotated[int, Field(ge=10, le=480)] = 90

    @model_validator(mode="after")
    def _configs_are_valid(self) -> RetrainingConfig:
        for api, location in self.configs.items():
            if not location.startswith(RETRAINING_SOURCE) or ".." in Path(location).parts:
                raise ValueError(
                    f"retraining.configs.{api}: {location} must be under {RETRAINING_SOURCE} (the "
                    "retraining build ships only the domain library)"
                )
            try:
                load_config(REPOSITORY_ROOT / location, api)
            except ConfigError as error:
                raise ValueError(f"retraining.configs.{api}: {error}") from None
        return self

    def config_for(self, api: ApiVersion) -> str:
        return self.configs.get(api) or _committed_training_configs()[api]


class AlertEndpoints(Strict):
    """Names of secrets (never the secrets themselves)."""

    # Secret NAMES in Secrets Manager, not secret values (hence the noqa).
    pagerduty_routing_key_secret: str = "propensity/pagerduty-routing-key"  # noqa: S105
    slack_webhook_secret: str = "propensity/slack-webhook-url"  # noqa: S105
    probe_api_key_secret: str = "propensity/probe-api-key"  # noqa: S105
    digest_email: str | None = None


class StageConfig(Strict):
    stage: StageName
    account: Annotated[str, Field(pattern=r"^\d{12}$")] = "111111111111"
    region: str = "eu-west-1"
    v1_deprecation_date: date = DEFAULT_V1_DEPRECATION_DATE
    v1_sunset_date: date = DEFAULT_V1_SUNSET_DATE
    models: dict[ApiVersion, ModelPin]
    require_approval: bool = False
    consumers: list[ConsumerConfig] = Field(default_factory=lambda: [ConsumerConfig(name="crm")])
    prediction: PredictionConfig = PredictionConfig()
    alerts: AlertEndpoints = AlertEndpoints()
    alarms: AlarmThresholds = AlarmThresholds()
    deployment: DeploymentThresholds = DeploymentThresholds()
    drift: DriftThresholds = DriftThresholds()
    evaluation: EvaluationThresholds = EvaluationThresholds()
    gate: GateThresholds = GateThresholds()
    retraining: RetrainingConfig = RetrainingConfig()
    api: ApiConfig = ApiConfig()
    stage_throttle_rps: Annotated[float, Field(gt=0)] = 500
    stage_throttle_burst: Annotated[int, Field(gt=0)] = 1000
    probe_schedule_minutes: Annotated[int, Field(ge=1, le=60)] = 1
    registry: RegistryConfig = RegistryConfig()
    # Pins written by `propensity promote --stage` (committed); a stage with require_lock ships
    # nothing else. Relative to the repository root.
    lock_file: str = "models.lock.json"
    require_lock: bool = False
    # Where synth reads an s3:// registry's bundles and records: its mirror (`registry pull`).
    synth_mirror: str = ".local/registry"
    requires: list[Capability] = Field(default_factory=lambda: list(DEFAULT_CAPABILITIES))
    # The tier a CodeDeploy rollback (deployment failed or stopped) is announced on.
    deployment_alert_tier: Tier = "warning"

    @property
    def registry_location(self) -> str | None:
        """The stage's S3 registry (the first ``s3://`` pin), or ``None`` with folder registries only."""
        found = sorted({pin.registry for pin in self.models.values() if pin.registry.startswith("s3://")})
        return found[0] if found else None

    @model_validator(mode="after")
    def _capabilities_are_there(self) -> StageConfig:
        location = self.registry_location
        remote = {
            pin.registry.rstrip("/") for pin in self.models.values() if pin.registry.startswith("s3://")
        }
        if len(remote) > 1:
            raise ValueError(
                f"stage {self.stage} pins models in several S3 registries ({sorted(remote)}); use one"
            )
        if location is None and {"shadow", "experiments"} & set(self.requires):
            raise ValueError(
                f"stage {self.stage} requires the shadow scorer and A/B experiments "
                f"({sorted(set(self.requires))}), which follow the registry's records in an s3:// "
                "registry, but its models pin only folder registries (set models.<api>.registry to its "
                f"registry stack's bucket, s3://{registry_bucket_name(self.stage, self.account, self.region)}"
                ")"
            )
        if location is not None and self.registry.deploy:
            expected = registry_bucket_name(self.stage, self.account, self.region)
            bucket = location.removeprefix("s3://").split("/", 1)[0]
            if bucket != expected:
                raise ValueError(
                    f"stage {self.stage} pins the registry s3://{bucket}, but its registry stack creates "
                    f"s3://{expected}; point the pins at it (or registry.deploy: false)"
                )
        return self


def load_stage_config(context: dict[str, Any], stage: str) -> StageConfig:
    """The stage's block of the ``stages`` context (cdk.json or ``-c``), validated."""
    stages = context.get("stages") or {}
    if stage not in stages:
        raise ValueError(f"unknown stage {stage!r}; cdk.json context 'stages' defines {sorted(stages)}")
    return StageConfig.model_validate({"stage": stage, **stages[stage]})

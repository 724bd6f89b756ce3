"""The bundle manifest: everything the service, the gate and the monitors need to know."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# The file names live in bundle.layout (the serving path reads them without this module's models).
from propensity.bundle.layout import ARTEFACT_FILE as ARTEFACT_FILE
from propensity.bundle.layout import CARD_FILE as CARD_FILE
from propensity.bundle.layout import GOLDEN_FILE as GOLDEN_FILE
from propensity.bundle.layout import MANIFEST_FILE as MANIFEST_FILE
from propensity.bundle.layout import MANIFEST_FORMAT as MANIFEST_FORMAT
from propensity.constants import ApiVersion
from propensity.monitoring.metrics import ClassificationMetrics, ReliabilityBin
from propensity.monitoring.reference import Reference


class SegmentMetrics(BaseModel):
    """Figures for one segment; ``small`` marks segments too thin to judge."""

    label: str
    small: bool
    metrics: ClassificationMetrics


class SplitMetrics(BaseModel):
    """Holdout figures for one split method."""

    method: str
    holdout_rows: int
    holdout_fingerprint: str
    overall: ClassificationMetrics
    segments: dict[str, list[SegmentMetrics]] = Field(default_factory=dict)
    reliability: list[ReliabilityBin] = Field(default_factory=list)


class BacktestMonth(BaseModel):
    """One test month of a rolling-origin backtest (trained on every earlier month)."""

    month: str  # "YYYY-MM" (propensity.data.months)
    rows: int
    positives: int
    train_rows: int
    yes_rate: float
    roc_auc: float | None
    pr_auc: float | None
    f1: float
    threshold: float
    brier: float
    bias: float  # mean predicted probability minus observed yes rate
    ece: float
    ece_noise_floor: float  # mean ECE of a perfectly calibrated model on as many rows
    fingerprint: str  # of the month's rows of this data (the gate pairs months on it)
    seconds: float


class Backtest(BaseModel):
    """The time-honest yardstick: train on the months before M, test on M, month by month."""

    config_name: str
    config_sha256: str
    data_sha256: str
    months: list[BacktestMonth]
    seconds: float

    def mean(self, name: str) -> float | None:
        values = [getattr(m, name) for m in self.months if getattr(m, name) is not None]
        return float(sum(values) / len(values)) if values else None


class TrainingRecord(BaseModel):
    """How the model was trained: data, split, parameters, timings."""

    data_sha256: str
    data_rows: int
    data_source: str
    split_seed: int
    holdout_share: float
    hyperparameters: dict[str, Any]
    threshold_method: str
    calibration_method: str
    seconds: float
    # The training configuration (propensity.training.config) and its hash; None in bundles
    # written before configs existed.
    config: dict[str, Any] | None = None
    config_sha256: str | None = None
    excluded_features: list[str] = Field(default_factory=list)
    first_month: str | None = None  # calendar months of the training rows
    last_month: str | None = None
    training_rows: int | None = None
    production_rows: int = 0  # of training_rows, labelled production traffic (propensity retrain)
    recalibrated_from: str | None = None  # same trees as this version, intercept refitted


class ValidationRecord(BaseModel):
    """Legacy: a gate verdict once appended to the manifest. Parsed, never trusted: verdicts are
    sealed registry records now (``propensity.gate.record``)."""

    passed: bool
    champion_version: str | None
    at: datetime
    report: dict[str, Any]


class ApprovalRecord(BaseModel):
    """Legacy: an approval once appended to the manifest. Parsed, never trusted: approvals are
    sealed registry records now (``propensity.promotion.approvals``)."""

    approver: str
    at: datetime
    note: str = ""


class Manifest(BaseModel):
    """``manifest.json`` of a bundle."""

    model_config = ConfigDict(protected_namespaces=(), extra="forbid")

    format: int = MANIFEST_FORMAT
    model_version: str
    api_version: ApiVersion
    created_at: datetime
    library_versions: dict[str, str]
    training: TrainingRecord
    features: list[str]
    model_columns: list[str]
    threshold: float
    confidence_bands: dict[str, float]
    calibration: dict[str, float]
    gate_split: str
    metrics: dict[str, SplitMetrics]
    backtest: Backtest | None = None  # the primary figure; metrics[gate_split] is secondary
    reference: Reference
    files: dict[str, str]  # file name -> SHA-256, for every file but the manifest
    # Legacy fields, kept so older manifests still parse. The registry never edits a manifest and
    # the promotion policy never reads these: anyone could have typed them in.
    validation: list[ValidationRecord] = Field(default_factory=list)
    approvals: list[ApprovalRecord] = Field(default_factory=list)

    @property
    def gate_metrics(self) -> SplitMetrics:
        return self.metrics[self.gate_split]

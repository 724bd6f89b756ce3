"""The bundle manifest: everything the service, the gate and the monitors need to know."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from propensity.constants import ApiVersion
from propensity.monitoring.metrics import ClassificationMetrics, ReliabilityBin
from propensity.monitoring.reference import Reference

MANIFEST_FILE = "manifest.json"
ARTEFACT_FILE = "model.npz"
GOLDEN_FILE = "golden.json"
CARD_FILE = "MODEL_CARD.md"
MANIFEST_FORMAT = 1


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
    reference: Reference
    files: dict[str, str]  # file name -> SHA-256, for every file but the manifest
    # Legacy fields, kept so older manifests still parse. The registry never edits a manifest and
    # the promotion policy never reads these: anyone could have typed them in.
    validation: list[ValidationRecord] = Field(default_factory=list)
    approvals: list[ApprovalRecord] = Field(default_factory=list)

    @property
    def gate_metrics(self) -> SplitMetrics:
        return self.metrics[self.gate_split]

"""The yardsticks: each model's holdout figures, from its manifest (shipped or in the registry)."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from propensity.bundle.manifest import Manifest
from propensity.constants import ApiVersion
from propensity.monitoring.metrics import ReliabilityBin
from propensity.registry.manifests import ManifestSource


class Baseline(BaseModel):
    """``manifest.gate_metrics``: what the model did on its holdout before it shipped."""

    model_config = ConfigDict(frozen=True)

    threshold: float
    f1: float
    precision: float  # = conversion of "yes" predictions on the holdout
    recall: float = 0.0
    roc_auc: float | None = None
    ece: float
    base_rate: float | None = None
    mean_probability: float | None = None
    reliability: list[ReliabilityBin] = Field(default_factory=list)

    @property
    def conversion(self) -> float:
        return self.precision

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> Baseline:
        gate = manifest.gate_metrics
        overall = gate.overall
        return cls(
            threshold=manifest.threshold,
            f1=overall.f1,
            precision=overall.precision,
            recall=overall.recall,
            roc_auc=overall.roc_auc,
            ece=overall.ece,
            base_rate=overall.base_rate,
            mean_probability=overall.mean_probability,
            reliability=gate.reliability,
        )


class BaselineSource(Protocol):
    def baseline(self, api_version: ApiVersion, model_version: str) -> Baseline | None:
        """The model's baseline, or ``None`` when the model is unknown."""


class ManifestBaselines:
    """A model version's baseline, from wherever its manifest is found."""

    def __init__(self, manifests: ManifestSource) -> None:
        self.manifests = manifests

    def baseline(self, api_version: ApiVersion, model_version: str) -> Baseline | None:
        manifest = self.manifests.manifest(api_version, model_version)
        return Baseline.from_manifest(manifest) if manifest is not None else None

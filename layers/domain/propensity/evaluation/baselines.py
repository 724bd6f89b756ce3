"""The yardsticks: each model's holdout figures, from its manifest in the registry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from propensity.bundle.manifest import Manifest
from propensity.constants import ApiVersion
from propensity.monitoring.metrics import ReliabilityBin
from propensity.registry.registry import Registry, RegistryError


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


class RegistryBaselines:
    """Baselines read from the registry's manifests (cached: a manifest never changes its metrics)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._cache: dict[tuple[ApiVersion, str], Baseline | None] = {}

    def baseline(self, api_version: ApiVersion, model_version: str) -> Baseline | None:
        key = (api_version, model_version)
        if key not in self._cache:
            try:
                self._cache[key] = Baseline.from_manifest(self.registry.manifest(api_version, model_version))
            except RegistryError:
                self._cache[key] = None
        return self._cache[key]


# How shipped manifests are named next to the evaluation handler (``manifest-<api>.json``).
MANIFEST_GLOB = "manifest-*.json"


def shipped_manifest_name(api_version: ApiVersion) -> str:
    return f"manifest-{api_version}.json"


class ManifestFileBaselines:
    """Baselines from manifest files shipped with the function (the models deployed with it).

    Lets the job judge the deployed models even when the registry is not reachable from the
    function (a stage whose registry is a folder on the deploying machine).
    """

    def __init__(self, directory: Path) -> None:
        self._baselines: dict[tuple[ApiVersion, str], Baseline] = {}
        for path in sorted(directory.glob(MANIFEST_GLOB)) if directory.is_dir() else []:
            manifest = Manifest.model_validate_json(path.read_bytes())
            self._baselines[(manifest.api_version, manifest.model_version)] = Baseline.from_manifest(manifest)

    def __len__(self) -> int:
        return len(self._baselines)

    def baseline(self, api_version: ApiVersion, model_version: str) -> Baseline | None:
        return self._baselines.get((api_version, model_version))


class ChainedBaselines:
    """The first source that knows the model wins."""

    def __init__(self, sources: Sequence[BaselineSource]) -> None:
        self.sources = list(sources)

    def baseline(self, api_version: ApiVersion, model_version: str) -> Baseline | None:
        for source in self.sources:
            found = source.baseline(api_version, model_version)
            if found is not None:
                return found
        return None

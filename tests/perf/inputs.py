"""What every benchmark shares: the real data, the model bundles, the request bodies.

Bundles come from the local registry's champions (``.local/registry``, what ``make run``
trained) when both API versions have one; otherwise v1 and v2 are trained once from the real
data into ``.cache/bench-bundles/`` (git-ignored), registered in a registry there, and reused
by every later run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from propensity.constants import API_VERSIONS, ApiVersion
from propensity.data.loader import ENV_VAR, BankDataset, load_bank_marketing
from propensity.features.translate import v1_to_v2
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from propensity.training.split import stratified_split

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "bench-bundles"
LOCAL_REGISTRY = ROOT / ".local" / "registry"
SHARED_DATA = ROOT.parent / "shared" / "data" / "bank.zip"
SAMPLE_SEED = 7


def progress(message: str) -> None:
    """Benchmark progress goes to stderr, so stdout stays the results table."""
    print(f"  [bench] {message}", file=sys.stderr, flush=True)


def data_path() -> Path | None:
    """``$BANK_MARKETING_DATA``, else the shared copy beside the project, else the loader's default."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured)
    return SHARED_DATA if SHARED_DATA.exists() else None


def load_dataset() -> BankDataset:
    """The verified UCI data (the loader explains what to do when it is missing)."""
    return load_bank_marketing(data_path())


@dataclass(frozen=True)
class BenchBundles:
    """Where the served models are: a registry (for the local server) and bundle folders."""

    registry_location: Path
    bundle_dirs: dict[ApiVersion, Path]
    model_versions: dict[ApiVersion, str]
    source: str  # "local registry" or "bench cache"

    def to_json(self) -> str:
        """For handing the same bundles to a child process."""
        return json.dumps(
            {
                "registry_location": str(self.registry_location),
                "bundle_dirs": {api: str(path) for api, path in self.bundle_dirs.items()},
                "model_versions": self.model_versions,
                "source": self.source,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> BenchBundles:
        data = json.loads(text)
        return cls(
            Path(data["registry_location"]),
            {api: Path(path) for api, path in data["bundle_dirs"].items()},
            data["model_versions"],
            data["source"],
        )


def _champions(registry: Registry) -> dict[ApiVersion, str] | None:
    found = {api: registry.alias(api, "champion") for api in API_VERSIONS}
    if any(version is None for version in found.values()):
        return None
    return {api: str(version) for api, version in found.items()}


def _fetched(registry: Registry, versions: dict[ApiVersion, str], cache: Path) -> dict[ApiVersion, Path]:
    """Champion bundle folders, copied out of the registry once (the handler reads folders)."""
    dirs = {}
    for api, version in versions.items():
        target = cache / api / version
        if not target.exists():
            # Fetched beside the target and renamed, so an interrupted fetch never looks complete.
            staging = target.with_name(f".{version}.{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            registry.fetch(api, version, staging)
            staging.rename(target)
        dirs[api] = target
    return dirs


def ensure_bundles(
    cache_dir: Path = CACHE_DIR,
    local_registry: Path = LOCAL_REGISTRY,
    dataset: BankDataset | None = None,
) -> BenchBundles:
    """Champions of the local registry if both exist, else bundles trained once into ``cache_dir``."""
    if (local_registry / "aliases").exists():
        registry = Registry(LocalBlobStore(local_registry))
        versions = _champions(registry)
        if versions is not None:
            dirs = _fetched(registry, versions, cache_dir / "from-local-registry")
            return BenchBundles(local_registry, dirs, versions, "local registry champions")
    bench_registry = cache_dir / "registry"
    registry = Registry(LocalBlobStore(bench_registry))
    versions = _champions(registry)
    if versions is None:
        from propensity.training.train import train_bundle

        data = dataset if dataset is not None else load_dataset()
        for api in API_VERSIONS:
            if registry.alias(api, "champion") is not None:
                continue
            progress(f"training {api} once into {bench_registry} (reused by later runs)")
            cache_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
                result = train_bundle(data, api, Path(scratch), progress=progress)
                manifest = registry.register(result.bundle_path)
            registry.set_alias(
                api, "champion", manifest.model_version, reason="benchmark bundle", actor="make bench"
            )
        versions = _champions(registry)
        assert versions is not None
    dirs = _fetched(registry, versions, cache_dir / "fetched")
    return BenchBundles(bench_registry, dirs, versions, "trained for the benchmark")


def holdout_records(dataset: BankDataset, count: int, seed: int = SAMPLE_SEED) -> list[dict[str, Any]]:
    """``count`` v1 request bodies drawn from the holdout rows (never used to fit a model)."""
    holdout = stratified_split(dataset.target, dataset.sha256).holdout
    rng = np.random.default_rng(seed)
    rows = rng.choice(holdout, size=count, replace=count > holdout.size)
    return dataset.take(np.sort(rows)).records()


@dataclass(frozen=True)
class Payloads:
    """The same customers as v1 bodies and as v2 bodies (the translator's output)."""

    v1: list[dict[str, Any]]
    v2: list[dict[str, Any]]

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Payloads:
        return cls(v1=records, v2=[v1_to_v2(r) for r in records])

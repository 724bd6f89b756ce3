"""Where the monitoring jobs find a model version's manifest: shipped with the function, then the registry.

The drift job (references) and the evaluation job (baselines) both need the manifest of every
model version that served a window. A stack ships the deployed models' manifests inside each
job's code (a folder registry on the deploying machine is unreachable from AWS) and may also
name a reachable registry; both jobs chain the two through this one module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from propensity.bundle.manifest import Manifest
from propensity.constants import ApiVersion
from propensity.registry.factory import open_registry
from propensity.registry.registry import IntegrityError, Registry, RegistryError

# How shipped manifests are named next to a job's handler.
SHIPPED_MANIFEST_GLOB = "manifest-*.json"


def shipped_manifest_name(api_version: ApiVersion) -> str:
    """File name of an API version's manifest shipped with a job (``manifest-<api>.json``)."""
    return f"manifest-{api_version}.json"


class ManifestSource(Protocol):
    def manifest(self, api_version: ApiVersion, model_version: str) -> Manifest | None:
        """The manifest, or ``None`` when the model version is unknown here."""


class RegistryManifests:
    """Manifests read from a registry, verified against their registration, cached (they never change)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._cache: dict[tuple[ApiVersion, str], Manifest | None] = {}

    def manifest(self, api_version: ApiVersion, model_version: str) -> Manifest | None:
        key = (api_version, model_version)
        if key not in self._cache:
            try:
                self._cache[key] = self.registry.manifest(api_version, model_version)
            except IntegrityError:
                raise  # a tampered manifest fails the job (and its alarm), it is never "unknown"
            except RegistryError:
                self._cache[key] = None  # reported as unknown, counted, not judged
        return self._cache[key]


class ShippedManifests:
    """Manifests shipped in a folder as ``manifest-<api>.json`` (files that do not parse are ignored)."""

    def __init__(self, folder: Path) -> None:
        self._manifests: dict[tuple[ApiVersion, str], Manifest] = {}
        for path in sorted(folder.glob(SHIPPED_MANIFEST_GLOB)) if folder.is_dir() else []:
            try:
                manifest = Manifest.model_validate_json(path.read_bytes())
            except ValueError:
                continue
            self._manifests[(manifest.api_version, manifest.model_version)] = manifest

    def __len__(self) -> int:
        return len(self._manifests)

    def manifest(self, api_version: ApiVersion, model_version: str) -> Manifest | None:
        return self._manifests.get((api_version, model_version))


class ChainedManifests:
    """The first source that knows a model version wins."""

    def __init__(self, sources: Sequence[ManifestSource]) -> None:
        self.sources = list(sources)

    def manifest(self, api_version: ApiVersion, model_version: str) -> Manifest | None:
        for source in self.sources:
            found = source.manifest(api_version, model_version)
            if found is not None:
                return found
        return None


def manifest_sources(shipped_dir: Path | None, registry_location: str | None) -> ChainedManifests:
    """Shipped manifests first (no network), then the registry, as a job is configured."""
    sources: list[ManifestSource] = []
    if shipped_dir is not None:
        sources.append(ShippedManifests(shipped_dir))
    if registry_location:
        sources.append(RegistryManifests(open_registry(registry_location)))
    return ChainedManifests(sources)

"""Write and load bundle folders; loading verifies schema version and file hashes."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from propensity.bundle.golden import GoldenSet
from propensity.bundle.manifest import ARTEFACT_FILE, GOLDEN_FILE, MANIFEST_FILE, Manifest
from propensity.constants import ApiVersion
from propensity.model.calibration import PlattCalibration
from propensity.model.scoring import ScoringModel
from propensity.model.trees import TreeEnsemble


class BundleError(RuntimeError):
    """A bundle is missing, malformed, tampered with, or built for another schema."""


@dataclass(frozen=True)
class Bundle:
    """A verified, loaded bundle."""

    path: Path
    manifest: Manifest
    model: ScoringModel
    golden: GoldenSet

    @property
    def version(self) -> str:
        return self.manifest.model_version


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensemble_bytes(ensemble: TreeEnsemble) -> bytes:
    """The artefact as deterministic bytes (same model, same hash)."""
    buffer = io.BytesIO()
    np.savez(buffer, **ensemble.to_arrays())  # type: ignore[arg-type]
    return buffer.getvalue()


def write_bundle(
    destination: Path, manifest: Manifest, artefact: bytes, golden: GoldenSet, extra_files: dict[str, bytes]
) -> Path:
    """Write a new bundle folder atomically; the manifest's ``files`` is filled in here.

    Refuses to overwrite: a bundle, once written, is immutable.
    """
    if destination.exists():
        raise BundleError(f"{destination} already exists; bundles are immutable")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=destination.parent))
    try:
        contents = {
            ARTEFACT_FILE: artefact,
            GOLDEN_FILE: golden.model_dump_json(indent=2).encode(),
            **extra_files,
        }
        for name, data in contents.items():
            (staging / name).write_bytes(data)
        files = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(contents.items())}
        final = manifest.model_copy(update={"files": files})
        (staging / MANIFEST_FILE).write_text(final.model_dump_json(indent=2))
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def read_manifest(path: Path) -> Manifest:
    """Parse a bundle's manifest, with a clear error when it is missing or malformed."""
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BundleError(f"{path} is not a bundle: {MANIFEST_FILE} is missing")
    try:
        return Manifest.model_validate_json(manifest_path.read_bytes())
    except ValueError as error:
        raise BundleError(f"{manifest_path} is not a valid manifest: {error}") from error


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Rewrite the manifest (only its validation and approval records may change)."""
    current = read_manifest(path)
    frozen = current.model_dump(exclude={"validation", "approvals"})
    if manifest.model_dump(exclude={"validation", "approvals"}) != frozen:
        raise BundleError("only validation and approval records of a manifest may change")
    temporary = path / f".{MANIFEST_FILE}.tmp"
    temporary.write_text(manifest.model_dump_json(indent=2))
    temporary.replace(path / MANIFEST_FILE)


def verify_files(path: Path, manifest: Manifest) -> None:
    """Every file the manifest lists exists and has its recorded SHA-256."""
    for name, expected in manifest.files.items():
        file = path / name
        if not file.is_file():
            raise BundleError(f"bundle {manifest.model_version}: {name} is missing")
        actual = file_sha256(file)
        if actual != expected:
            raise BundleError(
                f"bundle {manifest.model_version}: {name} has SHA-256 {actual[:12]}…, "
                f"the manifest records {expected[:12]}…; refusing a tampered bundle"
            )


def load_bundle(path: Path, expected_api_version: ApiVersion | None = None) -> Bundle:
    """Load and verify a bundle folder for serving."""
    manifest = read_manifest(path)
    if expected_api_version is not None and manifest.api_version != expected_api_version:
        raise BundleError(
            f"bundle {manifest.model_version} was built for schema {manifest.api_version}, "
            f"this service serves {expected_api_version}"
        )
    verify_files(path, manifest)
    with np.load(path / ARTEFACT_FILE, allow_pickle=False) as arrays:
        ensemble = TreeEnsemble.from_arrays(arrays)
    if ensemble.n_features != len(manifest.model_columns):
        raise BundleError(
            f"bundle {manifest.model_version}: artefact expects {ensemble.n_features} "
            f"columns, manifest lists {len(manifest.model_columns)}"
        )
    golden = GoldenSet.model_validate(json.loads((path / GOLDEN_FILE).read_bytes()))
    model = ScoringModel(
        schema_version=manifest.api_version,
        ensemble=ensemble,
        calibration=PlattCalibration(**manifest.calibration),
        threshold=manifest.threshold,
    )
    return Bundle(path=path, manifest=manifest, model=model, golden=golden)

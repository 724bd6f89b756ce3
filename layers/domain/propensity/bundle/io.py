"""Write and load bundle folders; loading verifies schema version, file hashes and the registration.

A bundle fetched from the registry (or packaged for Lambda) carries ``REGISTRATION.json``, the
sealed registration record holding the manifest's SHA-256: loading such a folder checks the
manifest against it, so an edited manifest (a threshold, a calibration sign) is refused even
though its file hashes still match.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from propensity.bundle.golden import GoldenSet
from propensity.bundle.manifest import ARTEFACT_FILE, GOLDEN_FILE, MANIFEST_FILE, Manifest
from propensity.constants import ApiVersion
from propensity.model.calibration import PlattCalibration
from propensity.model.scoring import ScoringModel
from propensity.model.trees import TreeEnsemble

# Next to the manifest in fetched and packaged bundles (never part of the manifest's ``files``).
REGISTRATION_FILE = "REGISTRATION.json"


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
    import shutil  # writing is training's: the serving cold start (load_bundle) never imports these
    import tempfile

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


def registered_manifest_sha256(path: Path) -> str | None:
    """The manifest SHA-256 recorded by the folder's ``REGISTRATION.json``, or ``None`` without one."""
    file = path / REGISTRATION_FILE
    if not file.is_file():
        return None
    try:
        digest = json.loads(file.read_bytes())["body"]["manifest_sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise BundleError(f"{file} is not a registration record; refusing the bundle") from error
    return str(digest)


def verify_manifest(path: Path, expected_sha256: str) -> None:
    """The folder's manifest has exactly the registered SHA-256."""
    actual = file_sha256(path / MANIFEST_FILE)
    if actual != expected_sha256:
        raise BundleError(
            f"{path / MANIFEST_FILE} has SHA-256 {actual[:12]}…, its registration records "
            f"{expected_sha256[:12]}…; refusing a tampered manifest"
        )


def load_bundle(
    path: Path, expected_api_version: ApiVersion | None = None, *, expected_manifest_sha256: str | None = None
) -> Bundle:
    """Load and verify a bundle folder for serving.

    The manifest is checked against ``expected_manifest_sha256`` (from the registry) when given,
    else against the folder's own ``REGISTRATION.json`` when there is one (a packaged bundle).
    """
    expected = expected_manifest_sha256 or registered_manifest_sha256(path)
    if expected is not None and (path / MANIFEST_FILE).is_file():
        verify_manifest(path, expected)
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

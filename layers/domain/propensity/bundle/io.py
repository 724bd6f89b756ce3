"""Write and load bundle folders; loading verifies schema version, file hashes and the registration.

A bundle fetched from the registry (or packaged for Lambda) carries ``REGISTRATION.json``, the
sealed registration record holding the manifest's SHA-256: loading such a folder checks the
manifest against it, so an edited manifest (a threshold, a calibration sign) is refused even
though its file hashes still match.

Serving (``load_bundle(..., serving=True)``) reads only what it needs of a *registered* bundle:
the manifest's bytes are checked against the registration and its files against the manifest
as always, but the manifest is parsed into ``ServingManifest`` (the six fields serving reads)
and the full ``Manifest`` and the golden cases are parsed from the same verified bytes on first
use. The full models were validated when the bundle was registered; building them cost about a
tenth of the prediction function's cold start (docs/performance.md). A bundle without a
registration is validated in full, serving or not.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from propensity.bundle.layout import ARTEFACT_FILE, GOLDEN_FILE, MANIFEST_FILE
from propensity.bundle.npz import load_npz
from propensity.constants import API_VERSIONS, ApiVersion
from propensity.model.calibration import PlattCalibration
from propensity.model.scoring import ScoringModel
from propensity.model.trees import TreeEnsemble

if TYPE_CHECKING:
    from propensity.bundle.golden import GoldenSet
    from propensity.bundle.manifest import Manifest

# Next to the manifest in fetched and packaged bundles (never part of the manifest's ``files``).
REGISTRATION_FILE = "REGISTRATION.json"


class BundleError(RuntimeError):
    """A bundle is missing, malformed, tampered with, or built for another schema."""


@dataclass(frozen=True)
class ServingManifest:
    """What serving reads from a manifest: the same fields, the same meaning as ``Manifest``'s."""

    model_version: str
    api_version: ApiVersion
    model_columns: tuple[str, ...]
    threshold: float
    calibration: Mapping[str, float]
    files: Mapping[str, str]

    @classmethod
    def of(cls, manifest: Manifest) -> ServingManifest:
        return cls(
            model_version=manifest.model_version,
            api_version=manifest.api_version,
            model_columns=tuple(manifest.model_columns),
            threshold=manifest.threshold,
            calibration=dict(manifest.calibration),
            files=dict(manifest.files),
        )

    @classmethod
    def parse(cls, data: bytes, where: Path) -> ServingManifest:
        """The serving fields of verified manifest bytes, each checked for its type."""
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            return cls(
                model_version=_text(raw, "model_version"),
                api_version=_api_version(raw),
                model_columns=tuple(_texts(raw, "model_columns")),
                threshold=_number(raw, "threshold", raw.get("threshold")),
                calibration={
                    k: _number(raw, f"calibration.{k}", v) for k, v in _object(raw, "calibration").items()
                },
                files={k: _text(raw["files"], k, f"files.{k}") for k in _object(raw, "files")},
            )
        except ValueError as error:  # json.JSONDecodeError is one
            raise BundleError(f"{where} is not a valid manifest: {error}") from error


def _object(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{key}: expected an object")
    return value


def _text(raw: dict[str, Any], key: str, name: str | None = None) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{name or key}: expected a string")
    return value


def _texts(raw: dict[str, Any], key: str) -> list[str]:
    value = raw.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: expected a list of strings")
    return value


def _number(raw: dict[str, Any], name: str, value: Any) -> float:
    # As pydantic's float (lax mode): int or float, never a bool or a string; no NaN in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number")
    return float(value)


def _api_version(raw: dict[str, Any]) -> ApiVersion:
    value = raw.get("api_version")
    if value not in API_VERSIONS:
        raise ValueError(f"api_version: expected one of {', '.join(API_VERSIONS)}")
    return value  # type: ignore[no-any-return]


class Bundle:
    """A verified, loaded bundle.

    ``manifest`` and ``golden`` are parsed from the verified bytes on first use when the
    loader had no need of them (serving a registered bundle); otherwise they come parsed.
    """

    __slots__ = ("_golden", "_manifest", "model", "path", "serving")

    def __init__(
        self,
        path: Path,
        serving: ServingManifest,
        model: ScoringModel,
        manifest: Manifest | bytes,
        golden: GoldenSet | bytes,
    ) -> None:
        self.path = path
        self.serving = serving
        self.model = model
        self._manifest = manifest
        self._golden = golden

    @property
    def version(self) -> str:
        return self.serving.model_version

    @property
    def manifest(self) -> Manifest:
        if isinstance(self._manifest, bytes):
            self._manifest = parse_manifest(self._manifest, self.path / MANIFEST_FILE)
        return self._manifest

    @property
    def golden(self) -> GoldenSet:
        if isinstance(self._golden, bytes):
            self._golden = parse_golden(self._golden)
        return self._golden

    def __repr__(self) -> str:
        return f"Bundle(path={str(self.path)!r}, version={self.version!r})"


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
    return parse_manifest(_manifest_bytes(path), path / MANIFEST_FILE)


def _manifest_bytes(path: Path) -> bytes:
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BundleError(f"{path} is not a bundle: {MANIFEST_FILE} is missing")
    return manifest_path.read_bytes()


def parse_manifest(data: bytes, where: Path) -> Manifest:
    from propensity.bundle.manifest import Manifest

    try:
        return Manifest.model_validate_json(data)
    except ValueError as error:
        raise BundleError(f"{where} is not a valid manifest: {error}") from error


def parse_golden(data: bytes) -> GoldenSet:
    from propensity.bundle.golden import GoldenSet

    return GoldenSet.model_validate(json.loads(data))


def verify_files(path: Path, manifest: Manifest | ServingManifest) -> None:
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


def verify_manifest(path: Path, expected_sha256: str, data: bytes | None = None) -> None:
    """The folder's manifest (or its bytes, already read) has exactly the registered SHA-256."""
    actual = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(path / MANIFEST_FILE)
    if actual != expected_sha256:
        raise BundleError(
            f"{path / MANIFEST_FILE} has SHA-256 {actual[:12]}…, its registration records "
            f"{expected_sha256[:12]}…; refusing a tampered manifest"
        )


def load_bundle(
    path: Path,
    expected_api_version: ApiVersion | None = None,
    *,
    expected_manifest_sha256: str | None = None,
    serving: bool = False,
) -> Bundle:
    """Load and verify a bundle folder for serving.

    The manifest is checked against ``expected_manifest_sha256`` (from the registry) when given,
    else against the folder's own ``REGISTRATION.json`` when there is one (a packaged bundle).
    ``serving``: a registered bundle's full manifest and golden cases are parsed on first use
    (see the module's docstring); an unregistered one is validated in full all the same.
    """
    expected = expected_manifest_sha256 or registered_manifest_sha256(path)
    data = _manifest_bytes(path)
    if expected is not None:
        verify_manifest(path, expected, data)
    lazy = serving and expected is not None
    manifest: Manifest | bytes
    if lazy:
        view, manifest = ServingManifest.parse(data, path / MANIFEST_FILE), data
    else:
        manifest = parse_manifest(data, path / MANIFEST_FILE)
        view = ServingManifest.of(manifest)
    if expected_api_version is not None and view.api_version != expected_api_version:
        raise BundleError(
            f"bundle {view.model_version} was built for schema {view.api_version}, "
            f"this service serves {expected_api_version}"
        )
    verify_files(path, view)
    ensemble = TreeEnsemble.from_arrays(load_npz(path / ARTEFACT_FILE))  # np.load's arrays, no zipfile
    if ensemble.n_features != len(view.model_columns):
        raise BundleError(
            f"bundle {view.model_version}: artefact expects {ensemble.n_features} "
            f"columns, manifest lists {len(view.model_columns)}"
        )
    golden_bytes = (path / GOLDEN_FILE).read_bytes()
    golden = golden_bytes if lazy else parse_golden(golden_bytes)
    model = ScoringModel(
        schema_version=view.api_version,
        ensemble=ensemble,
        calibration=PlattCalibration(**view.calibration),
        threshold=view.threshold,
    )
    return Bundle(path=path, serving=view, model=model, manifest=manifest, golden=golden)

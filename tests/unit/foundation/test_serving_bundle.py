"""Serving's load of a registered bundle: the same checks, the full models parsed on first use.

``load_bundle(..., serving=True)`` (the prediction function's load) checks the registration ->
manifest -> files chain as every loader does, reads the six fields serving needs into
``ServingManifest``, and parses the full ``Manifest`` and the golden cases from the verified
bytes only when something asks for them. A bundle without a registration is validated in full.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from propensity.bundle.io import REGISTRATION_FILE, BundleError, ServingManifest, load_bundle
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore


@pytest.fixture
def packaged(tmp_path: Path, trained) -> Path:
    """A v1 bundle as synth packages it for Lambda: fetched from the registry, with REGISTRATION.json."""
    registry = Registry(LocalBlobStore(tmp_path / "registry"))
    version = registry.register(trained["v1"].bundle_path).model_version
    return registry.fetch("v1", version, tmp_path / "model")


def rewrite_manifest(folder: Path, change: Any) -> None:
    """Edit the manifest and re-seal REGISTRATION.json's digest to match (an insider's edit)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    data = json.dumps(manifest, indent=2).encode()
    (folder / "manifest.json").write_bytes(data)
    registration = json.loads((folder / REGISTRATION_FILE).read_text())
    registration["body"]["manifest_sha256"] = hashlib.sha256(data).hexdigest()
    (folder / REGISTRATION_FILE).write_text(json.dumps(registration))


def test_serving_load_gives_the_same_bundle_as_the_full_load(packaged):
    # Given a packaged bundle, loaded fully and for serving
    full = load_bundle(packaged, "v1")
    served = load_bundle(packaged, "v1", serving=True)
    # Then the serving fields, the model, and (on first use) the manifest and golden cases agree
    assert served.serving == full.serving == ServingManifest.of(full.manifest)
    assert served.version == full.version
    assert served.model.threshold == full.model.threshold
    assert served.model.calibration == full.model.calibration
    assert served.manifest == full.manifest
    assert served.golden == full.golden


def test_serving_load_still_refuses_a_tampered_manifest(packaged):
    # Given the calibration sign flipped without re-sealing the registration
    manifest = json.loads((packaged / "manifest.json").read_text())
    manifest["calibration"]["slope"] = -manifest["calibration"]["slope"]
    (packaged / "manifest.json").write_text(json.dumps(manifest, indent=2))
    # Then serving refuses it as every loader does
    with pytest.raises(BundleError, match=r"refusing a tampered manifest"):
        load_bundle(packaged, "v1", serving=True)


def test_serving_load_still_refuses_a_changed_file(packaged):
    data = bytearray((packaged / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (packaged / "model.npz").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.npz has SHA-256 .* refusing a tampered bundle"):
        load_bundle(packaged, "v1", serving=True)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m.update(threshold="0.4"), "threshold"),
        (lambda m: m.update(threshold=True), "threshold"),
        (lambda m: m.pop("model_columns"), "model_columns"),
        (lambda m: m.update(model_columns=["age", 3]), "model_columns"),
        (lambda m: m.update(api_version="v9"), "api_version"),
        (lambda m: m["calibration"].update(slope=None), "calibration.slope"),
        (lambda m: m.update(files=["model.npz"]), "files"),
        (lambda m: m["files"].update({"model.npz": 7}), "files.model.npz"),
        (lambda m: m.update(model_version=None), "model_version"),
    ],
)
def test_a_resealed_manifest_with_a_wrong_serving_field_is_refused_by_name(packaged, change, field):
    # Given a manifest edited and re-sealed so that the hash chain holds but a field is wrong
    rewrite_manifest(packaged, change)
    # Then the serving load refuses it, naming the field
    with pytest.raises(BundleError, match=rf"manifest\.json is not a valid manifest: {field}"):
        load_bundle(packaged, "v1", serving=True)


def test_a_resealed_manifest_that_is_not_json_is_refused(packaged):
    (packaged / "manifest.json").write_bytes(b"{not json")
    registration = json.loads((packaged / REGISTRATION_FILE).read_text())
    registration["body"]["manifest_sha256"] = hashlib.sha256(b"{not json").hexdigest()
    (packaged / REGISTRATION_FILE).write_text(json.dumps(registration))
    with pytest.raises(BundleError, match=r"is not a valid manifest"):
        load_bundle(packaged, "v1", serving=True)


def test_the_full_manifest_is_validated_on_first_use(packaged):
    # Given a re-sealed manifest whose serving fields are right but another field is not
    rewrite_manifest(packaged, lambda m: m.update(gate_split=12345))
    # When loaded for serving, it serves; the full model is refused when first asked for
    served = load_bundle(packaged, "v1", serving=True)
    with pytest.raises(BundleError, match=r"is not a valid manifest"):
        served.manifest
    # And the full load refuses it at once, as before
    with pytest.raises(BundleError, match=r"is not a valid manifest"):
        load_bundle(packaged, "v1")


def test_an_unregistered_bundle_is_validated_in_full_even_for_serving(trained, tmp_path):
    # Given a bundle folder with no registration and an extra manifest key (forbidden)
    folder = tmp_path / "loose"
    import shutil

    shutil.copytree(trained["v1"].bundle_path, folder)
    assert not (folder / REGISTRATION_FILE).exists()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["unexpected"] = 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    # Then serving refuses it as the full load does
    with pytest.raises(BundleError, match=r"is not a valid manifest"):
        load_bundle(folder, "v1", serving=True)


def test_serving_load_does_not_build_the_manifest_models(packaged):
    # A fresh interpreter: loading for serving imports neither the manifest nor the golden models.
    code = (
        "import sys, pathlib; from propensity.bundle.io import load_bundle; "
        f"b = load_bundle(pathlib.Path({str(packaged)!r}), 'v1', serving=True); "
        "print(sorted(m for m in sys.modules if m in "
        "('propensity.bundle.manifest', 'propensity.bundle.golden', 'propensity.monitoring.reference')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

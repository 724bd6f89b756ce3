"""Any failure to load a bundle answers 503 with its reason for that API version; the other serves.

Each corruption below keeps the manifest's hashes consistent (``rehash``), as a bug in the
bundle writer or a careful attacker would, so the loader gets past the integrity check and
meets the broken content itself: a BadZipFile, a truncated array, a JSONDecodeError...
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from propensity.service.app import create_app
from propensity.service.core.runtime import ModelRuntime
from tests.service_support import make_settings, v1_body, v2_body

from .conftest import TestClient


def rehash(folder: Path) -> None:
    """Record the files' current SHA-256 in the manifest (and drop the ones that are gone)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in manifest["files"]
        if (folder / name).exists()
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def not_a_zip(folder: Path) -> None:
    (folder / "model.npz").write_bytes(b"PK\x03\x04 this is not a zip archive at all" * 10)


def truncated_npz(folder: Path) -> None:
    data = (folder / "model.npz").read_bytes()
    (folder / "model.npz").write_bytes(data[: len(data) // 2])


def empty_npz(folder: Path) -> None:
    (folder / "model.npz").write_bytes(b"")


def flipped_bytes_npz(folder: Path) -> None:
    data = bytearray((folder / "model.npz").read_bytes())
    for position in range(len(data) // 3, len(data) // 3 + 64):
        data[position] ^= 0xFF
    (folder / "model.npz").write_bytes(bytes(data))


def missing_arrays(folder: Path) -> None:
    with np.load(folder / "model.npz") as arrays:
        kept = {name: arrays[name] for name in arrays.files if name != "roots"}
    (folder / "model.npz").write_bytes(npz(**kept))


def wrong_array_format(folder: Path) -> None:
    with np.load(folder / "model.npz") as arrays:
        kept = {name: arrays[name] for name in arrays.files}
    kept["left"] = np.array(["a", "b"])  # strings where node indices belong
    kept["feature"] = kept["feature"][:10]  # and arrays of mismatched lengths
    (folder / "model.npz").write_bytes(npz(**kept))


def pickled_array(folder: Path) -> None:
    (folder / "model.npz").write_bytes(npz(feature=np.array([{"x": 1}], dtype=object)))


def missing_golden(folder: Path) -> None:
    (folder / "golden.json").unlink()


def invalid_golden_json(folder: Path) -> None:
    (folder / "golden.json").write_text('{"api_version": "v1", "cases": [')


def golden_of_the_wrong_shape(folder: Path) -> None:
    (folder / "golden.json").write_text('{"cases": "none"}')


def invalid_manifest_json(folder: Path) -> None:
    (folder / "manifest.json").write_text("{not json")


def truncated_manifest(folder: Path) -> None:
    text = (folder / "manifest.json").read_text()
    (folder / "manifest.json").write_text(text[: len(text) // 2])


def manifest_not_utf8(folder: Path) -> None:
    (folder / "manifest.json").write_bytes(b"\xff\xfe\x00garbage")


def manifest_is_a_folder(folder: Path) -> None:
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").mkdir()


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "npz not a zip (BadZipFile)": not_a_zip,
    "npz truncated": truncated_npz,
    "npz empty": empty_npz,
    "npz bytes flipped": flipped_bytes_npz,
    "npz missing an array": missing_arrays,
    "npz arrays of the wrong format": wrong_array_format,
    "npz with a pickled object array": pickled_array,
    "golden file missing": missing_golden,
    "golden file invalid JSON": invalid_golden_json,
    "golden file of the wrong shape": golden_of_the_wrong_shape,
}
# The manifest is what the hashes are checked against, so it is corrupted without rehashing.
MANIFEST_CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "manifest invalid JSON": invalid_manifest_json,
    "manifest truncated": truncated_manifest,
    "manifest not UTF-8": manifest_not_utf8,
    "manifest is a folder": manifest_is_a_folder,
}


def client_with_broken(api: str, folder: Path, bundles) -> TestClient:
    settings = make_settings(bundles, **{f"model_dir_{api}": folder})
    return TestClient(create_app(settings), raise_server_exceptions=False)


def assert_broken_version_answers_503(client: TestClient, api: str) -> str:
    """503 with a reason on the broken version's routes, 200 on the other's; the reason."""
    other = "v2" if api == "v1" else "v1"
    bodies = {"v1": v1_body(), "v2": v2_body()}
    broken = client.post(f"/{api}/predict", json=bodies[api])
    assert broken.status_code == 503, broken.text
    reason = broken.json()["detail"]
    assert f"the {api} bundle" in reason and "could not be loaded" in reason
    assert "Traceback" not in broken.text
    assert client.post(f"/{other}/predict", json=bodies[other]).status_code == 200
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["models"][api] is None
    assert health.json()["models"][other] is not None
    assert reason in health.json()["reason"]
    return str(reason)


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_corrupt_bundle_with_matching_hashes_answers_503_and_the_other_version_serves(
    api, corruption, bundle_copy, bundles
):
    # Given a bundle corrupted in a way its hashes do not catch
    folder = bundle_copy(api)
    CORRUPTIONS[corruption](folder)
    rehash(folder)
    # When the app is created (a Lambda init, the local server's start): it does not raise
    client = client_with_broken(api, folder, bundles)
    # Then that version answers 503 with the reason, the other version serves
    assert_broken_version_answers_503(client, api)


@pytest.mark.parametrize("corruption", list(MANIFEST_CORRUPTIONS), ids=list(MANIFEST_CORRUPTIONS))
def test_corrupt_manifest_answers_503(corruption, bundle_copy, bundles):
    folder = bundle_copy("v2")
    MANIFEST_CORRUPTIONS[corruption](folder)
    assert_broken_version_answers_503(client_with_broken("v2", folder, bundles), "v2")


def test_the_reason_names_the_error_type_of_a_foreign_exception(bundle_copy, bundles):
    # Given the corrupt npz of issue 15 (hash updated to match)
    folder = bundle_copy("v1")
    not_a_zip(folder)
    rehash(folder)
    # Then the reason says what went wrong, with the exception's type
    reason = assert_broken_version_answers_503(client_with_broken("v1", folder, bundles), "v1")
    assert "BadZipFile" in reason
    assert str(folder) in reason


def test_unconfigured_bundle_says_what_to_run_locally_and_what_it_means_in_lambda(bundles):
    runtime = ModelRuntime.load(make_settings(bundles, model_dir_v2=None))
    reason = runtime.errors["v2"]
    assert "propensity serve" in reason
    assert "in Lambda, MODEL_DIR_V2 is unset" in reason
    assert not reason.startswith("set MODEL_DIR")


def test_lambda_init_survives_a_corrupt_bundle(bundle_copy, tmp_path):
    # Given a function's task root whose shipped bundle is a corrupt npz with a matching hash
    root = tmp_path / "task"
    root.mkdir()
    folder = bundle_copy("v1")
    not_a_zip(folder)
    rehash(folder)
    folder.rename(root / "model")
    handler_dir = Path(__file__).resolve().parents[3] / "functions" / "predict"
    # When the handler module is imported in a fresh interpreter (a cold start) and invoked
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import predict_handler as h; "
        "from tests.events import LambdaContext, api_gateway_event; "
        "r = h.lambda_handler(api_gateway_event('POST', '/v1/predict', {}), LambdaContext()); "
        "print('STATUS', r['statusCode'], json.loads(r['body'])['detail'])"
    )
    env = {
        "API_VERSIONS": "v1",
        "MODEL_DIR_V1": "model",
        "LAMBDA_TASK_ROOT": str(root),
        "V1_DEPRECATION_DATE": "2026-09-01",
        "V1_SUNSET_DATE": "2027-06-30",
        "POWERTOOLS_METRICS_NAMESPACE": "Propensity",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(handler_dir)],
        env=env,
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then the init did not fail: the invocation answered 503 with the reason
    assert done.returncode == 0, done.stderr[-2000:]
    status_line = next(line for line in done.stdout.splitlines() if line.startswith("STATUS"))
    assert status_line.startswith("STATUS 503") and "BadZipFile" in status_line

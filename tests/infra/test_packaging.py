"""What the functions ship: layers built without Docker, the pinned bundle, the function asset."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from infra import packaging
from infra.config import ModelPin, PredictionConfig
from propensity.bundle.manifest import MANIFEST_FILE
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from tests.infra.conftest import stage_config

MIB = 1024 * 1024
PINS = dict(
    line.split("#")[0].strip().split("==")
    for line in (packaging.RUNTIME_REQUIREMENTS.read_text().splitlines())
    if "==" in line.split("#")[0]
)


def pinned(name: str) -> str:
    return next(v for k, v in PINS.items() if re.sub(r"\[.*\]", "", k).lower() == name)


@pytest.fixture(scope="module")
def runtime_layer() -> Path:
    return packaging.runtime_layer_dir("arm64")


def test_runtime_layer_resolves_the_pinned_versions_for_python_312(runtime_layer):
    # Given the runtime layer built for arm64 Lambda
    details = packaging.build_details(runtime_layer)
    versions = details["versions"]
    # Then every pin of requirements/runtime.txt resolved to exactly that version: pydantic 2 and
    # the pinned FastAPI (a resolver run for the wrong Python or platform falls back to pydantic 1)
    for name in ("numpy", "pydantic", "fastapi", "mangum", "aws-lambda-powertools"):
        assert versions[name] == pinned(name), name
    assert versions["pydantic"].startswith("2.")
    assert details["architecture"] == "arm64"
    # And the wheels are CPython 3.12 manylinux aarch64 builds
    extension = next((runtime_layer / "python" / "pydantic_core").glob("_pydantic_core*.so"))
    assert "cpython-312-aarch64-linux-gnu" in extension.name


def test_runtime_layer_is_slim_compiled_and_leaves_boto_to_the_runtime(runtime_layer):
    # Given the built layer
    site = runtime_layer / "python"
    # Then botocore (which the Lambda runtime provides) is not shipped twice
    assert not (site / "botocore").exists()
    assert not [p for p in site.glob("*.dist-info") if p.name.startswith(("botocore", "boto3", "urllib3"))]
    # And no test suites are shipped, but shared libraries are intact
    assert not [p for p in site.rglob("tests") if p.is_dir()]
    assert list((site / "numpy.libs").glob("*.so*"))
    # And .pyc compiled by Python 3.12 sit next to the sources (Lambda's code folder is read-only)
    assert packaging.build_details(runtime_layer)["pyc"] is True
    assert list((site / "fastapi" / "__pycache__").glob("*.cpython-312.pyc"))


def test_layers_are_cached_by_content(runtime_layer):
    # Given a built runtime layer
    marker = runtime_layer / packaging.COMPLETE_MARKER
    before = marker.stat().st_mtime_ns
    # When it is asked for again with unchanged requirements and recipe
    again = packaging.runtime_layer_dir("arm64")
    # Then the same folder comes back, not rebuilt
    assert again == runtime_layer
    assert marker.stat().st_mtime_ns == before


def test_domain_layer_is_the_library_alone():
    # Given the domain layer
    layer = packaging.domain_layer_dir()
    package = layer / "python" / "propensity"
    # Then it holds the propensity package (with .pyc) and nothing else
    assert [p.name for p in (layer / "python").iterdir() if p.name != "__pycache__"] == ["propensity"]
    assert (package / "bundle" / "io.py").is_file()
    assert list((package / "__pycache__").glob("*.cpython-312.pyc"))
    assert not list(layer.rglob("*.egg-info"))


def test_what_a_prediction_function_ships_fits_the_size_budget(prod_app, runtime_layer):
    # Given everything a prediction function ships: runtime + domain layers + code + model
    service = prod_app.stacks["service"]
    domain = packaging.domain_layer_dir()
    for api, bundle in service.bundle_dirs.items():
        code = packaging.prediction_code_dir(api, bundle)
        total = packaging.unzipped_size(runtime_layer, domain, code)
        # Then it stays within the 150 MiB budget (Lambda's own limit is 250 MB)
        assert total <= 150 * MIB, f"{api}: {total / MIB:.1f} MiB"


def test_a_new_model_version_is_a_new_function_asset(trained, tmp_path):
    # Given the v1 bundle and a copy that claims another model version
    original = trained["v1"].bundle_path
    other = tmp_path / "v1-other"
    shutil.copytree(original, other)
    manifest = json.loads((other / MANIFEST_FILE).read_text())
    manifest["model_version"] = "v1-0000000000"
    (other / MANIFEST_FILE).write_text(json.dumps(manifest))
    # When the prediction function's asset is built for each
    first = packaging.prediction_code_dir("v1", original)
    second = packaging.prediction_code_dir("v1", other)
    # Then they are different assets (so CDK publishes a new version), each with its bundle
    assert first != second
    assert json.loads((second / "model" / MANIFEST_FILE).read_text())["model_version"] == "v1-0000000000"
    assert (first / "predict_handler.py").read_bytes() == (second / "predict_handler.py").read_bytes()


def test_bundle_resolves_the_alias_and_refuses_unapproved_models(trained, tmp_path):
    # Given a registry whose champions carry no approval record
    root = tmp_path / "registry"
    registry = Registry(LocalBlobStore(root))
    for api in ("v1", "v2"):
        manifest = registry.register(trained[api].bundle_path)
        registry.set_alias(api, "champion", manifest.model_version, reason="test", actor="pytest")
    champion = registry.alias("v1", "champion")
    # When a stage that does not require approval packages v1
    dev = stage_config("dev", root)
    bundle = packaging.model_bundle_dir(dev, "v1")
    # Then it gets the champion's verified bundle
    assert packaging.resolve_model_version(dev, "v1") == champion
    assert bundle == packaging.BUILD_DIR / "models" / "v1" / champion
    assert json.loads((bundle / MANIFEST_FILE).read_text())["model_version"] == champion
    # And a stage that requires approval refuses it, saying why
    prod = stage_config("prod", root, require_lock=False)
    with pytest.raises(packaging.PackagingError, match="no approval record"):
        packaging.model_bundle_dir(prod, "v1")


def test_bundle_pins_an_exact_version_and_names_unknown_ones(trained, tmp_path):
    # Given a registry with the v2 bundle registered (no alias set)
    root = tmp_path / "registry"
    manifest = Registry(LocalBlobStore(root)).register(trained["v2"].bundle_path)
    # When a stage pins the exact version, an unknown version, or an alias that points nowhere
    exact = stage_config(
        "dev", root, models={"v2": ModelPin(version=manifest.model_version, registry=str(root))}
    )
    unknown = stage_config(
        "dev", root, models={"v2": ModelPin(version="v2-does-not-exist", registry=str(root))}
    )
    unset = stage_config("dev", root, models={"v2": ModelPin(version="champion", registry=str(root))})
    # Then the exact pin is packaged and the others fail synth with a clear message
    assert packaging.model_bundle_dir(exact, "v2").name == manifest.model_version
    with pytest.raises(packaging.PackagingError, match="v2-does-not-exist is not registered"):
        packaging.model_bundle_dir(unknown, "v2")
    with pytest.raises(packaging.PackagingError, match="points at no model"):
        packaging.model_bundle_dir(unset, "v2")


def test_cdk_json_stages_are_valid_and_warm_start_strategies_exclusive():
    # Given the stages of cdk.json
    from infra.config import load_stage_config
    from tests.infra.conftest import CDK_JSON

    # Then both load, prod ships canaries of approved models, dev all at once
    dev, prod = (load_stage_config(CDK_JSON["context"], s) for s in ("dev", "prod"))
    assert (dev.prediction.deployment, prod.prediction.deployment) == ("all_at_once", "canary")
    assert prod.require_approval and not dev.require_approval
    # And SnapStart with provisioned concurrency is refused (Lambda rejects the pair)
    with pytest.raises(ValueError, match="exclude each other"):
        PredictionConfig(snap_start=True, provisioned_concurrency=2)

"""The six promotion steps, end to end through the commands, on the local registry and on S3 (moto).

1 train and register a challenger, 2 gate it, 3 shadow it, 4 approve it, 5 promote it (and ship
it: the deploy is simulated the way CodeDeploy ends one, a new published version behind
``live``), 6 roll back in one command. A challenger that fails the gate is refused on the way.
"""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from propensity.cli import main
from propensity.gate.record import latest_verdict
from propensity.promotion.approvals import approvals
from propensity.promotion.lock import read_lock
from propensity.registry.factory import open_registry
from propensity.shadow.challenger import ChallengerCache
from propensity.training import train
from tests.integration.promotion_aws import (
    REGION,
    REGISTRY_BUCKET,
    create_prediction_function,
    create_registry_bucket,
    live_alias,
    use_fake_credentials,
)
from tests.unit.gate.challengers import derive_bundle, shifted_calibration

FUNCTION = "propensity-prod-predict-v1"


@pytest.fixture(scope="module")
def retrained(bank_data, tmp_path_factory):
    """Step 1's model: v1 retrained once with other settings (fewer, larger boosting steps, 3 folds).

    The only extra training of the promotion tests. One OpenMP thread: on a busy machine the
    threads of scikit-learn's boosting spin against each other (measured 5x slower).
    """
    from threadpoolctl import threadpool_limits

    with pytest.MonkeyPatch.context() as patch, threadpool_limits(1):
        patch.setitem(
            train.HYPERPARAMETERS,
            "v1",
            {**train.HYPERPARAMETERS["v1"], "max_iter": 120, "learning_rate": 0.1},
        )
        patch.setattr(train, "CV_FOLDS", 3)
        return train.train_bundle(
            bank_data,
            "v1",
            tmp_path_factory.mktemp("retrained"),
            progress=lambda _m: None,
            with_time_split=False,
            backtest_months=2,  # the gate judges on time: a challenger needs a backtest
        )


@pytest.fixture
def aws(monkeypatch):
    use_fake_credentials(monkeypatch)
    with mock_aws():
        yield


def write_cdk_json(path, registry_location: str):
    """A stage configuration like the repository's: prod requires approval, both follow ``champion``
    from the registry the workflow runs on."""
    models = {api: {"version": "champion", "registry": registry_location} for api in ("v1", "v2")}
    stages = {
        "dev": {"region": REGION, "models": models, "require_approval": False},
        "prod": {"region": REGION, "models": models, "require_approval": True},
    }
    path.write_text(json.dumps({"context": {"stages": stages}}))
    return path


def run(capsys, *argv: str) -> tuple[int, str]:
    """Run one ``propensity`` command; its exit code and everything it printed."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.realdata
@pytest.mark.parametrize("backend", ["local", "s3"])
def test_six_steps_end_to_end(backend, aws, registry, retrained, bundles, bank_data, tmp_path, capsys):
    # Given a registry with v1 champion A (local, or pushed to an S3 bucket), and prod serving A
    location = registry.store.location
    if backend == "s3":
        create_registry_bucket()
        location = f"s3://{REGISTRY_BUCKET}/shared"
        code, out = run(
            capsys, "registry", "push", "--registry", registry.store.location, "--remote", location
        )
        assert code == 0 and "2 versions copied" in out
    shared = open_registry(location)
    cdk_json = write_cdk_json(tmp_path / "cdk.json", location)
    if backend == "s3":
        # aliases are not copied: the shared registry's first champion goes through its own
        # policy (prod ships from it, so it needs an approval first)
        champion = registry.alias("v1", "champion")
        first = ["--registry", location, "--cdk-json", str(cdk_json)]
        assert run(capsys, "alias", "champion", champion, *first, "--reason", "first")[0] == 1
        assert run(capsys, "approve", champion, "--registry", location, "--approver", "Grace Hopper")[0] == 0
        assert run(capsys, "alias", "champion", champion, *first, "--reason", "first")[0] == 0
    champion = shared.alias("v1", "champion")
    lambda_versions = create_prediction_function(FUNCTION, [champion])
    data = ["--data", bank_data.source]
    reports = tmp_path / "reports"

    # Step 1: train and register a challenger (and a broken one, to see it refused)
    challenger = shared.register(retrained.bundle_path).model_version
    broken = derive_bundle(
        bundles["v1"],
        bank_data,
        tmp_path,
        "broken",
        calibration=shifted_calibration(bundles["v1"].model.calibration, 0.6),
    )
    shared.register(broken.path)

    # Step 2: the gate passes the challenger, fails the broken one, and both verdicts are recorded
    code, out = run(
        capsys, "gate", challenger, "--api", "v1", "--registry", location, "--out", str(reports), *data
    )
    assert code == 0, out
    assert f"v1 gate PASSED: challenger {challenger} vs champion {champion}" in out
    code, out = run(capsys, "gate", broken.version, "--registry", location, "--out", str(reports), *data)
    assert code == 3, out
    # refused as miscalibrated: both models calibrate to the same latest months, so the broken
    # one is judged against the champion's calibration (the base-rate checks of the stratified
    # holdout are reported, not judged, for models calibrated to the latest months)
    assert "FAIL degradation: ece not worse than the champion" in out
    assert "FAIL distribution: score distribution close to the champion's (PSI)" in out
    assert latest_verdict(shared, "v1", challenger).passed
    assert not latest_verdict(shared, "v1", broken.version).passed
    assert len(list(reports.glob("gate-*.md"))) == 2 and len(list(reports.glob("gate-*.json"))) == 2
    code, out = run(
        capsys,
        "promote",
        broken.version,
        "--registry",
        location,
        "--reason",
        "try",
        "--cdk-json",
        str(cdk_json),
    )
    assert code == 1 and "failed the gate" in out
    assert shared.alias("v1", "champion") == champion

    # Step 3: shadow it; the shadow scorer's challenger cache picks the new alias up
    code, out = run(
        capsys, "challenger", challenger, "--registry", location, "--reason", "shadow before release"
    )
    assert code == 0, out
    assert ChallengerCache(shared, tmp_path / "shadow-cache").get("v1").version == challenger

    # Step 4: prod refuses it until a named person approves it
    promote = ["promote", challenger, "--registry", location, "--cdk-json", str(cdk_json), "--stage", "prod"]
    code, out = run(capsys, *promote, "--reason", "better calibrated")
    assert code == 1 and "has no approval; this stage requires an approval" in out
    code, out = run(
        capsys,
        "approve",
        challenger,
        "--registry",
        location,
        "--approver",
        "Ada Lovelace",
        "--note",
        "shadow ok",
    )
    assert code == 0, out
    assert [a.approver for a in approvals(shared, "v1", challenger)] == ["Ada Lovelace"]

    # Step 5: promote moves champion, clears challenger, and pins it for prod in the lock file
    code, out = run(capsys, *promote, "--reason", "better calibrated")
    assert code == 0, out
    assert shared.alias("v1", "champion") == challenger
    assert shared.alias("v1", "challenger") is None
    assert f"models.lock.json: prod v1 nothing -> {challenger}" in out
    assert "npx cdk deploy --all -c stage=<stage>" in out
    pin = read_lock(tmp_path / "models.lock.json").pin("prod", "v1")
    assert pin.model_version == challenger and pin.approvals == ["Ada Lovelace"]
    # ...and the deploy ends like a CodeDeploy rollout: a new version for the model behind live
    lam = boto3.client("lambda", region_name=REGION)
    lam.update_function_code(FunctionName=FUNCTION, ZipFile=_zip(challenger))
    shipped = lam.publish_version(FunctionName=FUNCTION, Description=challenger)["Version"]
    lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=shipped)

    # Step 6: one command puts live back on A's version and champion back on A
    code, out = run(
        capsys,
        "rollback",
        "--api",
        "v1",
        "--stage",
        "prod",
        "--registry",
        location,
        "--reason",
        "conversion fell",
        "--cdk-json",
        str(cdk_json),
    )
    assert code == 0, out
    assert f"registry champion: {challenger} -> {champion}" in out
    assert live_alias(FUNCTION)["FunctionVersion"] == lambda_versions[0]
    assert shared.alias("v1", "champion") == champion
    assert [m.model_version for m in shared.history("v1", "champion")] == [champion, challenger, champion]
    assert shared.history("v1", "champion")[-1].reason.startswith("rollback: conversion fell")

    if backend == "s3":
        # The team's local copy catches up with everything recorded on the shared registry
        local = tmp_path / "my-registry"
        code, out = run(capsys, "registry", "pull", "--registry", str(local), "--remote", location)
        assert code == 0, out
        mine = open_registry(str(local))
        assert [a.approver for a in approvals(mine, "v1", challenger)] == ["Ada Lovelace"]
        assert latest_verdict(mine, "v1", challenger).passed  # re-sealed locally after KMS verification
        assert mine.alias("v1", "champion") is None  # aliases stay with their registry


def _zip(model_version: str) -> bytes:
    import io
    import zipfile

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("predict_handler.py", f"MODEL = {model_version!r}\n")
    return code.getvalue()

"""Synth packages only what the registry vouches for: approved where required, pinned, intact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra import packaging
from infra.config import ModelPin
from propensity.bundle.io import REGISTRATION_FILE, load_bundle
from propensity.policy.gate import GateThresholds
from propensity.promotion.approvals import approvals
from propensity.promotion.lock import Pin, write_pin
from propensity.promotion.workflow import approve, gate_registered
from tests.infra.conftest import stage_config
from tests.unit.gate.challengers import derive_bundle


@pytest.mark.realdata
def test_prod_synth_refuses_an_unapproved_model_until_it_is_approved(
    registry, bundles, bank_data, tmp_path, monkeypatch
):
    # Given prod's configuration from cdk.json, reading a registry where a challenger passed the gate
    monkeypatch.setattr(packaging, "BUILD_DIR", tmp_path / "build")
    root = Path(registry.store.location)
    challenger = derive_bundle(bundles["v1"], bank_data, tmp_path / "derived", "candidate")
    registry.register(challenger.path)
    report = gate_registered(
        registry, "v1", challenger.version, bank_data, thresholds=GateThresholds(bootstrap_resamples=200)
    )
    assert report.passed
    lock = tmp_path / "models.lock.json"
    pinned = {"v1": ModelPin(version=challenger.version, registry=str(root))}
    prod = stage_config("prod", root, lock_file=str(lock))
    dev = stage_config("dev", root, lock_file=str(lock), models=pinned)
    assert prod.require_approval and prod.require_lock and not dev.require_approval

    # When prod has no pin in the lock file, synth refuses and says how to pin
    with pytest.raises(packaging.PackagingError, match="ships only models pinned in models.lock.json"):
        packaging.model_bundle_dir(prod, "v1")
    # When the lock is edited by hand to pin the unapproved challenger, synth still refuses
    manifest_sha = registry.registration("v1", challenger.version).manifest_sha256
    pin = Pin(
        model_version=challenger.version,
        manifest_sha256=manifest_sha,
        pinned_by="mallory",
        pinned_at=datetime.now(UTC),
        reason="by hand",
    )
    write_pin(lock, "prod", "v1", pin)
    with pytest.raises(packaging.PackagingError, match="requires an approved model"):
        packaging.model_bundle_dir(prod, "v1")
    # ...while dev, which does not require approval, packages it
    assert packaging.model_bundle_dir(dev, "v1").name == challenger.version

    # Then once a named person approves it through the workflow, prod packages it
    approve(registry, "v1", challenger.version, approver="Ada Lovelace", note="shadow report reviewed")
    bundle = packaging.model_bundle_dir(prod, "v1")
    assert bundle.name == challenger.version and (bundle / REGISTRATION_FILE).is_file()
    assert load_bundle(bundle, "v1").version == challenger.version
    assert [a.approver for a in approvals(registry, "v1", challenger.version)] == ["Ada Lovelace"]

    # And a lock pinning other manifest bytes under that name, or a tampered file, is refused
    write_pin(lock, "prod", "v1", pin.model_copy(update={"manifest_sha256": "0" * 64}))
    with pytest.raises(packaging.PackagingError, match="refusing to package another model under the pinned"):
        packaging.model_bundle_dir(prod, "v1")
    write_pin(lock, "prod", "v1", pin)
    key = f"models/v1/{challenger.version}/golden.json"
    registry.store.put(key, registry.store.get(key) + b" ")
    with pytest.raises(packaging.PackagingError, match=r"golden\.json"):
        packaging.model_bundle_dir(prod, "v1")

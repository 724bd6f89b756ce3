"""Synth refuses to package an unapproved model for prod; the workflow's approval unlocks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import packaging
from infra.config import ModelPin
from propensity.bundle.io import read_manifest
from propensity.policy.gate import GateThresholds
from propensity.promotion.workflow import approve, gate_registered
from tests.infra.conftest import stage_config
from tests.unit.gate.challengers import derive_bundle


@pytest.mark.realdata
def test_prod_synth_refuses_an_unapproved_model_until_it_is_approved(
    registry, bundles, bank_data, tmp_path, monkeypatch
):
    # Given prod's configuration from cdk.json, pointed at a registry where a challenger passed the gate
    monkeypatch.setattr(packaging, "BUILD_DIR", tmp_path / "build")
    root = Path(registry.store.location)
    challenger = derive_bundle(bundles["v1"], bank_data, tmp_path / "derived", "candidate")
    registry.register(challenger.path)
    report = gate_registered(
        registry, "v1", challenger.version, bank_data, thresholds=GateThresholds(bootstrap_resamples=200)
    )
    assert report.passed
    pinned = {"v1": ModelPin(version=challenger.version, registry=str(root))}
    prod = stage_config("prod", root, models=pinned)
    dev = stage_config("dev", root, models=pinned)
    assert prod.require_approval and not dev.require_approval

    # When synth packages it for prod before anyone approved it, it refuses, saying why
    with pytest.raises(packaging.PackagingError, match="requires an approved model"):
        packaging.model_bundle_dir(prod, "v1")
    # (prod following the champion alias refuses the unapproved champion the same way)
    with pytest.raises(packaging.PackagingError, match="no approval record"):
        packaging.model_bundle_dir(stage_config("prod", root), "v1")
    # ...while dev, which does not require approval, packages it
    assert packaging.model_bundle_dir(dev, "v1").name == challenger.version

    # Then once a named person approves it through the workflow, prod packages it with the record
    approve(registry, "v1", challenger.version, approver="Ada Lovelace", note="shadow report reviewed")
    bundle = packaging.model_bundle_dir(prod, "v1")
    assert bundle.name == challenger.version
    approvals = read_manifest(bundle).approvals
    assert [(a.approver, a.note) for a in approvals] == [("Ada Lovelace", "shadow report reviewed")]

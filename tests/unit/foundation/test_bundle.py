"""Bundles round-trip, refuse tampering and the wrong schema, and score like scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from propensity.bundle.io import BundleError, load_bundle
from propensity.features.schemas import TRANSFORMS
from propensity.training.train import flat_columns


def test_bundle_round_trips(bundles, trained) -> None:
    # Given a bundle written by training
    for api, bundle in bundles.items():
        # When it is loaded again
        again = load_bundle(bundle.path, api)
        # Then manifest, model and golden cases are the same
        assert again.manifest == bundle.manifest
        assert again.golden == bundle.golden
        assert np.array_equal(again.model.ensemble.threshold, trained[api].trained.ensemble.threshold)
        assert again.model.threshold == trained[api].trained.threshold


def test_manifest_describes_the_model(bundles, bank_data) -> None:
    m = bundles["v1"].manifest
    assert m.api_version == "v1" and m.model_version.startswith("v1-")
    assert m.training.data_sha256 == bank_data.sha256
    assert "duration" not in m.features and len(m.features) == 15
    assert set(m.metrics) == {"stratified", "time_ordered"}
    assert m.gate_split == "stratified"
    assert set(m.gate_metrics.segments) == {"age_group", "job", "balance_bracket"}
    assert 0 < m.threshold < 1
    assert set(m.files) == {
        "model.npz",
        "golden.json",
        "MODEL_CARD.md",
        "backtest.png",
        "calibration.png",
        "segments.png",
    }
    assert m.reference.features["contact"].proportions.keys() == {"cellular", "telephone", "unknown"}
    assert abs(sum(m.reference.features["age"].proportions) - 1) < 1e-9


def test_golden_cases_reproduce(bundles) -> None:
    for bundle in bundles.values():
        cases = bundle.golden.cases
        assert len(cases) >= 20
        assert {c.decision for c in cases} == {"yes", "no"}
        assert {c.confidence for c in cases} == {"low", "medium", "high"}


def test_tampered_artefact_is_refused(bundle_copy) -> None:
    path = bundle_copy("v1")
    data = bytearray((path / "model.npz").read_bytes())
    data[-100] ^= 0xFF
    (path / "model.npz").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.npz has SHA-256 .* refusing a tampered bundle"):
        load_bundle(path, "v1")


def test_tampered_threshold_in_golden_is_refused(bundle_copy) -> None:
    path = bundle_copy("v2")
    golden = json.loads((path / "golden.json").read_text())
    golden["cases"][0]["probability"] = 0.99
    (path / "golden.json").write_text(json.dumps(golden))
    with pytest.raises(BundleError, match="golden.json"):
        load_bundle(path, "v2")


def test_bundle_for_another_schema_is_refused(bundles) -> None:
    with pytest.raises(BundleError, match="built for schema v1, this service serves v2"):
        load_bundle(bundles["v1"].path, "v2")


def test_missing_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(tmp_path, "v1")


def test_exported_trees_match_sklearn_on_every_holdout_row(trained, bank_data) -> None:
    # The serving model (numpy) equals the training model (scikit-learn), row for row.
    for api, result in trained.items():
        x = TRANSFORMS[api](flat_columns(bank_data.take(result.holdout_rows), api))
        ours = result.trained.ensemble.raw_score(x)
        theirs = result.trained.sklearn_model.decision_function(x)
        assert np.max(np.abs(ours - theirs)) < 1e-9

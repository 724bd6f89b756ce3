"""Training on the real data meets the model's bar, reproducibly."""

from __future__ import annotations

import pytest

from propensity.training.split import stratified_split

pytestmark = pytest.mark.realdata


def test_holdout_quality_meets_the_target(trained) -> None:
    for api, result in trained.items():
        manifest = result.manifest
        strat = manifest.metrics["stratified"].overall
        timed = manifest.metrics["time_ordered"].overall
        # The committed configs leave out the date inputs: the stratified figure (which rewards
        # knowing the date) is lower than it was with them, and stays above the gate's floor
        assert strat.roc_auc >= 0.75, api
        date_inputs = {"v1": {"day", "month"}, "v2": {"last_contact_day", "last_contact_month"}}[api]
        assert set(manifest.training.excluded_features) == date_inputs
        # Calibrated to the latest months: over time (the backtest) the bias is small
        assert manifest.backtest is not None
        assert abs(manifest.backtest.mean("bias") or 1.0) < 0.10, api
        assert (manifest.backtest.mean("roc_auc") or 0.0) >= 0.62, api
        # The time-ordered holdout is reported and shows the cost of drift
        assert timed.roc_auc < strat.roc_auc
        assert timed.base_rate > 2 * strat.base_rate


def test_training_is_reproducible(bank_data, trained, tmp_path) -> None:
    # Same data, same code: same holdout rows and the same model version (a content hash).
    from propensity.training.train import train_bundle

    again = train_bundle(bank_data, "v1", tmp_path, progress=lambda _m: None, with_time_split=False)
    first = trained["v1"].manifest
    assert again.manifest.model_version == first.model_version
    assert again.manifest.gate_metrics.holdout_fingerprint == first.gate_metrics.holdout_fingerprint
    assert (
        stratified_split(bank_data.target, bank_data.sha256).fingerprint
        == first.gate_metrics.holdout_fingerprint
    )

"""Judged on time, on the real data: a date-proxy model fails the gate; a retrain on production
outcomes (archived events joined with ingested labels, through DuckDB) beats the static champion
on the months after its training data and becomes the challenger.

Small settings (60 boosting rounds, 2 folds, 3 backtest months) keep each model to seconds;
the protocol is the production one.
"""

from __future__ import annotations

import pytest

from propensity.archive.store import LocalArchiveStore
from propensity.gate.record import latest_verdict
from propensity.gate.run import run_gate
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from propensity.training.config import parse_config
from propensity.training.production_data import production_rows
from propensity.training.replay import month_rows, replay_month
from propensity.training.retrain import base_data, retrain
from propensity.training.train import train_bundle

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SMALL = """
name = "{name}"
[model]
exclude_features = [{excluded}]
[model.hyperparameters]
max_iter = 60
learning_rate = 0.15
[calibration]
method = "platt_recent_intercept"
cv_folds = 2
[backtest]
months = 3
"""
ALL_BUT_DATE = ("age", "job", "marital", "education", "default", "balance", "housing", "loan")
ALL_BUT_DATE += ("campaign", "pdays", "previous", "poutcome")


def small_config(name: str, excluded: tuple[str, ...]):
    return parse_config(SMALL.format(name=name, excluded=", ".join(f'"{e}"' for e in excluded)), "v1")


def _quiet(_message: str) -> None:
    return None


def test_a_date_proxy_model_fails_the_gate_on_time(bank_data, tmp_path):
    champion = train_bundle(
        bank_data, "v1", tmp_path, _quiet, False, small_config("small", ("day", "month")), backtest_months=3
    )
    proxy = train_bundle(
        bank_data, "v1", tmp_path, _quiet, False, small_config("date-proxy", ALL_BUT_DATE), backtest_months=3
    )
    from propensity.bundle.io import load_bundle

    report = run_gate(
        load_bundle(champion.bundle_path, "v1"), load_bundle(proxy.bundle_path, "v1"), bank_data
    )
    assert not report.passed
    failed = {c.name for c in report.failures() if c.kind == "time"}
    assert "ROC AUC over backtest months not worse than the champion" in failed
    assert report.over_time is not None
    assert report.over_time.paired == 3
    assert report.over_time.mean_difference is not None
    assert report.over_time.mean_difference < -0.05
    # the stratified holdout alone is far kinder to it than the months are
    stratified = proxy.manifest.metrics["stratified"].overall.roc_auc
    assert proxy.manifest.backtest is not None
    assert stratified is not None
    assert stratified > (proxy.manifest.backtest.mean("roc_auc") or 0) + 0.05


def test_retrain_on_production_outcomes_beats_the_static_champion(bank_data, tmp_path):
    config = small_config("small", ("day", "month"))
    base = base_data(bank_data, "2010-04")
    registry = Registry(LocalBlobStore(tmp_path / "registry"))
    static = train_bundle(base, "v1", tmp_path / "static", _quiet, False, config, backtest_months=3)
    registry.register(static.bundle_path)
    registry.set_alias("v1", "champion", static.manifest.model_version, reason="test", actor="pytest")
    champion = registry.load("v1", static.manifest.model_version, tmp_path / "cache")

    archive = LocalArchiveStore(tmp_path / "archive")
    replayed = sum(
        replay_month(archive, champion, month_rows(bank_data, month), month)
        for month in ("2010-05", "2010-06", "2010-07", "2010-08", "2010-09", "2010-10", "2010-11")
    )
    rows = production_rows(archive.root, "v1")
    assert len(rows.dataset) == replayed  # every replayed prediction joined with its outcome once
    assert sorted(set(rows.dataset.calendar_months())) == [
        "2010-05",
        "2010-06",
        "2010-07",
        "2010-08",
        "2010-09",
        "2010-10",
        "2010-11",
    ]

    # The stage's default gate: the small test settings (60 rounds, 2 folds) make a model below
    # the stratified floors (ROC AUC 0.739 < 0.75, PR AUC 0.344 < 0.35, like its champion's
    # 0.742), which yield to the time comparison it is judged on
    outcome = retrain(
        registry,
        "v1",
        bank_data,
        archive.root,
        config,
        base_until="2010-04",
        backtest_months=3,
        progress=_quiet,
    )
    over_time = outcome.report.over_time
    assert over_time is not None
    assert over_time.paired == 3
    assert {m.champion_source for m in over_time.months} == {"as shipped"}
    assert over_time.mean_difference is not None
    assert over_time.mean_difference > 0  # the retrain ranks next month better than the static model
    assert outcome.report.passed, [c.name for c in outcome.report.failures()]
    assert outcome.challenger_set
    assert registry.alias("v1", "challenger") == outcome.version
    manifest = registry.manifest("v1", outcome.version)
    assert manifest.training.production_rows == replayed
    # the verdict lives in a sealed gate record beside the immutable manifest, judged against
    # the champion it replaces
    verdict = latest_verdict(registry, "v1", outcome.version, against=static.manifest.model_version)
    assert verdict is not None and verdict.passed

    # recalibration only: same trees, intercept refitted on the latest month: bias shrinks
    recalibrated = retrain(
        registry,
        "v1",
        bank_data,
        archive.root,
        config,
        base_until="2010-04",
        recalibrate_only=True,
        backtest_months=3,
        progress=_quiet,
    )
    recal = registry.manifest("v1", recalibrated.version)
    assert recal.backtest is not None
    static_bias = [m.champion_bias for m in recalibrated.report.over_time.months]  # type: ignore[union-attr]
    assert abs(recal.backtest.mean("bias") or 1) < abs(sum(b or 0 for b in static_bias) / 3)

"""The monitoring page's experiments section: the latest experiment, analysed on the archive."""

from __future__ import annotations

from datetime import timedelta

from propensity.dashboard.data import DashboardData
from propensity.dashboard.experiments import render_experiments, rows_for
from tests.unit.experiments.synthetic import START, experiment, make_record, write_experiment

NOW = START + timedelta(days=50)


def test_the_page_shows_the_experiment_its_arms_and_its_test(tmp_path):
    # Given a finished synthetic experiment whose challenger is clearly better, in a real archive
    record = make_record()
    store, _ = write_experiment(tmp_path, record, customers=3000, lift=1.5)

    # When the page's section analyses it
    [row] = rows_for([experiment(record)], store, NOW)

    # Then it names both versions, the share, the verdict and the primary test with its interval
    assert row.experiment == record.experiment_id
    assert row.champion == record.champion_version
    assert record.challenger_version in row.challenger and "50%" in row.challenger
    assert row.status == "running: challenger better"
    assert "always-valid p = " in row.detail and "[" in row.detail


def test_no_experiment_in_the_registry_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PROPENSITY_REGISTRY", str(tmp_path / "registry"))
    data = DashboardData(generated_at=NOW, start=NOW - timedelta(hours=24), end=NOW, archive=str(tmp_path))
    assert "No experiment running." in render_experiments(data)

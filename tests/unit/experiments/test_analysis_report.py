"""Analysis on a real local archive of a synthetic experiment, and the HTML report."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import pytest

from propensity.experiments.analysis import analyse
from propensity.experiments.report import render_html, summary_html
from propensity.labels.outcomes import load_outcomes
from tests.unit.experiments.synthetic import START, experiment, make_record, write_experiment

NOW = START + timedelta(days=50)


@pytest.fixture(scope="module")
def strong(tmp_path_factory):
    record = make_record()
    store, truth = write_experiment(tmp_path_factory.mktemp("strong"), record, customers=4000, lift=1.5)
    return analyse(store, experiment(record), load_outcomes(store), now=NOW, resamples=400), truth


def test_every_prediction_of_the_experiment_is_counted_once_by_arm(strong):
    analysis, truth = strong
    arms = analysis.arms
    assert arms["champion"].predictions == truth["champion"]
    assert arms["challenger"].predictions == truth["challenger"]
    assert arms["champion"].predictions + arms["challenger"].predictions == 4000
    # every outcome arrived (by prediction id or by customer reference alone)
    assert (
        arms["champion"].labelled == truth["champion"] and arms["challenger"].labelled == truth["challenger"]
    )
    assert sum(a.fallback_predictions for a in arms.values()) == truth["fallback"]
    notes = " ".join(analysis.notes)
    assert f"{truth['synthetic']} synthetic predictions left out" in notes
    assert "duplicate deliveries counted once" in notes
    assert abs(truth["challenger"] / 4000 - 0.5) < 0.04


def test_a_clearly_better_challenger_is_found_with_intervals_that_exclude_zero(strong):
    analysis, _ = strong
    diffs = {d.metric: d for d in analysis.differences}
    auc = diffs["roc_auc"]
    assert auc.difference > 0.05 and auc.low > 0 and auc.low < auc.difference < auc.high
    net = diffs["net_return_per_customer"]
    assert net.low < net.difference < net.high
    assert analysis.verdict == "challenger_better"
    assert analysis.test is not None and analysis.test.p_value <= 0.05
    # the always-valid p-value only ever decreases over the daily looks
    p_values = [look.p_value for look in analysis.looks]
    assert all(b <= a for a, b in itertools.pairwise(p_values))
    assert analysis.looks[0].day == START.date()


def test_the_per_arm_figures_are_the_plain_definitions(strong):
    analysis, _ = strong
    for figures in analysis.arms.values():
        assert figures.conversion == pytest.approx(figures.subscriptions_from_calls / figures.calls)
        assert figures.recall == pytest.approx(figures.subscriptions_from_calls / figures.subscribers)
        assert figures.calls_per_subscription == pytest.approx(
            figures.calls / figures.subscriptions_from_calls
        )
        assert figures.net_return_eur == pytest.approx(
            120 * figures.subscriptions_from_calls - 5 * figures.calls
        )
        assert figures.calibration_bias == pytest.approx(figures.mean_probability - figures.observed_rate)


def test_a_null_experiment_is_not_decided_for_either_arm(tmp_path):
    record = make_record(planned=1500)
    store, _ = write_experiment(tmp_path, record, customers=1500, lift=0.0, seed=7)
    analysis = analyse(store, experiment(record), load_outcomes(store), now=NOW, resamples=200)
    assert analysis.verdict in {"no_difference", "continue"}
    auc = next(d for d in analysis.differences if d.metric == "roc_auc")
    assert auc.low < 0 < auc.high


def test_the_report_renders_with_plots_and_the_decision(strong):
    analysis, _ = strong
    page = render_html(analysis)
    assert page.startswith("<!doctype html>")
    assert page.count("data:image/png;base64,") == 3
    assert "challenger_better" in page and "Pre-registered design" in page and "msprt" in page
    assert "v2-champ" in page and "v2-chall" in page
    tables_only = render_html(analysis, plots=False)
    assert "data:image/png" not in tables_only
    assert np.isfinite(analysis.arms["champion"].roc_auc)


def test_the_monitoring_page_fragment_names_the_experiment_and_its_decision(strong):
    analysis, _ = strong
    fragment = summary_html(analysis)
    assert "v2-exp0000 (running)" in fragment and "net return per customer difference" in fragment
    assert "the challenger is better" in fragment

"""Analysis on a real local archive of a synthetic experiment, and the HTML report."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import pytest

from propensity.experiments.analysis import ArmRows, ExperimentRows, analyse, weekly_primary
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


def _arm(arm, week_subscribers):
    """100 customers a week, 50 of them called; ``week_subscribers[w]`` of the called subscribe."""
    rows = ArmRows(arm)
    for week, subscribers in enumerate(week_subscribers):
        day = START.date().toordinal() + 7 * week + 2
        for c in range(100):
            rows.customer_keys.append(f"c:{arm}-{week}-{c}")
            rows.probability.append(0.5)
            rows.decision.append(c < 50)
            rows.label.append(int(c < subscribers))
            rows.known_day.append(day + 10)
            rows.served_day.append(day)
    return rows


def test_the_primary_metric_by_week_served_shows_an_effect_that_changes_sign():
    record = make_record()
    data = ExperimentRows(
        experiment(record), {"champion": _arm("champion", [20, 5]), "challenger": _arm("challenger", [5, 20])}
    )
    weeks = weekly_primary(data, (START + timedelta(days=40)).date(), 0.95)
    assert [w.week for w in weeks] == [1, 2]
    assert [w.first_day for w in weeks] == [START.date(), START.date() + timedelta(days=7)]
    # (20 x 120 - 50 x 5) / 100 = 21.5 EUR against (5 x 120 - 250) / 100 = 3.5 EUR
    assert weeks[0].champion == pytest.approx(21.5) and weeks[0].challenger == pytest.approx(3.5)
    assert weeks[0].difference == pytest.approx(-18.0) and weeks[1].difference == pytest.approx(18.0)
    assert weeks[0].high < 0 < weeks[1].low
    assert all(w.n_champion == w.n_challenger == 100 for w in weeks)
    # outcomes not known yet are not counted
    early = weekly_primary(data, (START + timedelta(days=12)).date(), 0.95)
    assert early[0].n_champion == 100 and early[1].n_champion == 0 and early[1].difference is None


def test_the_weeks_served_count_every_labelled_customer_once(strong):
    analysis, _ = strong
    weeks = analysis.by_week_served
    assert sum(w.n_champion for w in weeks) == analysis.arms["champion"].labelled_customers
    assert sum(w.n_challenger for w in weeks) == analysis.arms["challenger"].labelled_customers
    assert "by week served" in render_html(analysis, plots=False)

"""The real scenario: a model trained on the early 60% of the file meets the later 40% as traffic.

The truth is taken from the data itself: for each replayed hour, PSI of the raw later rows
against the model's stored reference, computed here with plain numpy. The drift job, which
only sees what the service archived, must reproduce it, flag the fields that really moved and
stay quiet on those that did not; the model's "yes" rate must follow the real subscription rate
without a false alert where that rate holds.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from propensity_demo.drift_scenario import run_replay_scenario, split_by_order

from propensity.bundle.manifest import Manifest
from propensity.drift.aggregates import count_hours
from propensity.features.schemas import SPECS
from propensity.features.translate import v1_columns_to_v2_flat
from propensity.monitoring.reference import NumericReference
from propensity.policy.drift import DriftThresholds
from propensity.query.duckdb_engine import DuckDBEngine
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
POLICY = DriftThresholds()
HOURS = 6
# Named in the issue: what a person looking at this data set expects to move and to stay put.
EXPECTED_MOVED = {
    "contact_channel",
    "last_contact_month",
    "days_since_previous_contact",
    "previous_contacts",
    "previous_outcome",
}
EXPECTED_STABLE = {"marital_status", "education", "has_credit_default"}


def true_psi(values: list, reference) -> float:
    """PSI of raw values against a reference, written out independently of the drift package."""
    if isinstance(reference, NumericReference):
        present = [v for v in values if v is not None]
        index = np.searchsorted(np.asarray(reference.edges), np.asarray(present, dtype=float), side="left")
        counts = list(np.bincount(index, minlength=len(reference.edges) + 1)) + [len(values) - len(present)]
        expected = [p * (1 - reference.missing_share) for p in reference.proportions] + [
            reference.missing_share
        ]
    else:
        keys = ["true" if v is True else "false" if v is False else str(v) for v in values]
        categories = list(reference.proportions)
        counts = [keys.count(c) for c in categories] + [sum(k not in reference.proportions for k in keys)]
        expected = [reference.proportions[c] for c in categories] + [0.0]
    total = sum(counts)
    eps = POLICY.psi_epsilon
    return sum(
        (max(c / total, eps) - max(e, eps)) * math.log(max(c / total, eps) / max(e, eps))
        for c, e in zip(counts, expected, strict=True)
    )


@pytest.fixture(scope="module")
def scenario(bank_data, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("drift-demo")
    return run_replay_scenario(workdir, dataset=bank_data, train_share=0.6, hours=HOURS, hourly_plots=False)


@pytest.fixture(scope="module")
def truth(scenario, bank_data):
    """Per hour and feature, PSI of the raw later rows against the registered model's reference."""
    registry = Registry(LocalBlobStore(scenario.workdir / "registry"))
    manifest: Manifest = registry.manifest("v2", scenario.model_version)
    _, late = split_by_order(bank_data, 0.6)
    flat = v1_columns_to_v2_flat(late.columns)
    table = {}
    for hour, (first, last) in zip(scenario.hours, scenario.slices, strict=True):
        table[hour] = {
            name: true_psi(flat[name][first:last], manifest.reference.features[name])
            for name in SPECS["v2"].names
        }
    rates = {
        hour: float(late.target[first:last].mean())
        for hour, (first, last) in zip(scenario.hours, scenario.slices, strict=True)
    }
    return {
        "psi": table,
        "subscription_rate": rates,
        "train_rate": float(split_by_order(bank_data, 0.6)[0].target.mean()),
    }


def test_every_replayed_row_reached_the_archive_through_the_service(scenario):
    # Given the later 40% of the file replayed over six hours through the local service
    # Then each hour's window holds exactly its slice of rows, judged against the model's reference
    assert "service app" in scenario.replayed_through
    assert [r.start for r in scenario.results] == scenario.hours
    for result, (first, last) in zip(scenario.results, scenario.slices, strict=True):
        [group] = result.groups
        assert result.bad_lines == 0
        assert group.events == last - first
        assert group.model_version == scenario.model_version and group.judged
    # And every line the service wrote is an event the engine reads (none lost, none bad)
    counted = count_hours(DuckDBEngine(scenario.workdir / "archive"), scenario.hours)
    assert sum(c.events for c in counted.values()) == scenario.replay_rows
    assert sum(c.bad_lines for c in counted.values()) == 0


def test_the_job_reproduces_the_psi_of_the_raw_data(scenario, truth):
    # Then what the job computed from archived events equals PSI computed from the raw rows
    for result in scenario.results:
        [group] = result.groups
        for feature in group.features:
            assert feature.psi == pytest.approx(
                truth["psi"][result.start][feature.name], rel=1e-9, abs=1e-12
            ), (result.start, feature.name)


def test_fields_that_really_moved_are_flagged_and_stable_ones_stay_quiet(scenario, truth):
    # Given the truth from the data: moved = over the warning level in every hour; stable = never
    moved = {
        name for name in SPECS["v2"].names if all(t[name] > POLICY.psi_warning for t in truth["psi"].values())
    }
    stable = {
        name
        for name in SPECS["v2"].names
        if all(t[name] <= POLICY.psi_warning for t in truth["psi"].values())
    }
    assert EXPECTED_MOVED <= moved, moved
    assert EXPECTED_STABLE <= stable, stable
    # Then every hour flags each moved field as a warning and never flags a stable one
    for result in scenario.results:
        [group] = result.groups
        status = {f.name: f.status for f in group.features}
        assert all(status[name] == "warning" for name in moved), status
        assert all(status[name] in ("ok", "info") for name in stable), status
        alert = next(a for a in group.alerts if a.code == "feature_psi")
        assert all(name in alert.message for name in moved)
        assert not any(f" {name} " in alert.message for name in stable)


def test_the_yes_rate_follows_the_real_subscription_rate_without_false_alerts(scenario, truth):
    # Given the hours whose real subscription rate is far above the training data's, and the
    # hours where it is close to it; and the model's reference answers, measured where its
    # calibration and threshold were tuned (the latest training months, out of fold)
    far = {h for h, rate in truth["subscription_rate"].items() if rate - truth["train_rate"] > 0.20}
    close = {h for h, rate in truth["subscription_rate"].items() if abs(rate - truth["train_rate"]) < 0.05}
    assert far and close
    registry = Registry(LocalBlobStore(scenario.workdir / "registry"))
    reference = registry.manifest("v2", scenario.model_version).reference
    assert reference.answers_from == "latest months"
    groups = {result.start: result.groups[0] for result in scenario.results}
    fired = {hour: any(a.code == "yes_rate" for a in g.alerts) for hour, g in groups.items()}
    yes_rate = {hour: g.prediction.yes_rate for hour, g in groups.items()}
    # Then where the real rate holds, the model says "yes" as often as on its reference: no alert
    for hour in close:
        assert not fired[hour], groups[hour].prediction
        assert abs(yes_rate[hour] - reference.yes_rate) < POLICY.yes_rate_warning_points / 100
    # And where it climbs, the model says "yes" more often than on its reference and than in
    # any hour whose real rate held: the yes rate moves with the subscription rate
    for hour in far:
        assert yes_rate[hour] > reference.yes_rate
        assert yes_rate[hour] > max(yes_rate[h] for h in close)
    # But only by the part its inputs explain: without the date inputs its mean probability
    # stays near the training rate while the real rate is several times higher (the hourly
    # monitor sees no outcomes; the evaluation job measures that gap: test_evaluation_replay)
    for hour in far:
        assert truth["subscription_rate"][hour] > 3 * groups[hour].prediction.mean_probability


def test_the_report_shows_it(scenario):
    # Then the daily report names the moved fields as warnings, with a plot per feature
    page = Path(scenario.report_path).read_text()
    assert scenario.daily is not None and scenario.daily.events == scenario.replay_rows
    for name in EXPECTED_MOVED:
        assert f'alt="{name}"' in page
    assert page.count("data:image/png;base64,") == len(SPECS["v2"].names) + 1
    assert "PSI over 0.2" in page and "warning" in page
    hourly = sorted((scenario.workdir / "reports").glob("drift-*T*.html"))
    assert len(hourly) == HOURS

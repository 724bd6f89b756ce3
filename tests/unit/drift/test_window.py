"""Judging a window against the model's reference: statuses, alerts, metrics, adding up, the report."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from propensity.drift import metrics as names
from propensity.drift.metrics import window_points
from propensity.drift.report import render_html
from propensity.drift.results import merge_groups
from propensity.drift.window import StaticReferences, window_result
from propensity.features.schemas import SPECS
from propensity.policy.drift import DriftThresholds
from tests.unit.drift.events_factory import count_events, make_events, reference

HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)
REFERENCES = StaticReferences({("v1", "v1-test"): reference("v1"), ("v2", "v2-test"): reference("v2")})


def result_for(events, thresholds=DriftThresholds()):
    return window_result(
        HOUR, HOUR.replace(hour=11), count_events(events, HOUR), REFERENCES, thresholds, HOUR
    )


def test_traffic_like_the_reference_raises_nothing():
    # Given 1,000 events drawn like the reference's data, with similar scores
    events = make_events(
        "v1", 1000, HOUR, seed=21, probabilities=np.random.default_rng(21).beta(1.2, 6.0, size=1000)
    )
    # When the window is judged
    [group] = result_for(events).groups
    # Then it is judged, every v1 feature has a PSI under the info level, and no alert is raised
    assert group.judged
    assert [f.name for f in group.features] == list(SPECS["v1"].names)
    assert all(f.status == "ok" for f in group.features), {f.name: f.psi for f in group.features}
    assert abs(group.prediction.yes_rate_shift_points) < 5
    assert group.alerts == []


def test_a_moved_feature_and_yes_rate_raise_warnings_and_two_moved_features_an_info():
    # Given everyone contacted by telephone in March, and the model saying "yes" to almost all
    events = make_events(
        "v1", 500, HOUR, overrides={"contact": "telephone", "month": "mar"}, probabilities=np.full(500, 0.9)
    )
    # When the window is judged
    result = result_for(events)
    [group] = result.groups
    # Then contact and month are over the warning level, the yes-rate moved, and the alerts say so
    assert group.feature("contact").status == "warning"
    assert group.feature("month").status == "warning"
    assert group.prediction.yes_rate == 1.0
    codes = {(a.tier, a.code) for a in group.alerts}
    assert codes == {("warning", "feature_psi"), ("warning", "yes_rate"), ("info", "features_over_info")}
    # And the metrics carry the same figures, per feature and per API version
    points = {(p.name, p.dimensions.get(names.FEATURE_DIMENSION)): p.value for p in window_points(result)}
    assert points[(names.FEATURE_PSI, "contact")] == pytest.approx(group.feature("contact").psi)
    assert points[(names.MAX_FEATURE_PSI, None)] == pytest.approx(group.max_psi)
    assert points[(names.YES_RATE_SHIFT, None)] == pytest.approx(abs(group.prediction.yes_rate_shift_points))
    assert points[(names.FEATURES_OVER_PSI_INFO, None)] >= 2
    assert all(p.timestamp == HOUR for p in window_points(result))


def test_a_quiet_hour_publishes_counts_but_no_psi():
    # Given 50 events, fewer than the policy's minimum
    events = make_events("v2", 50, HOUR, overrides={"contact_channel": "telephone"})
    result = result_for(events)
    [group] = result.groups
    # Then figures are there but not judged, no alert, and no PSI metric is published
    assert not group.judged and group.alerts == []
    published = {p.name for p in window_points(result)}
    assert names.WINDOW_EVENTS in published
    assert names.FEATURE_PSI not in published and names.MAX_FEATURE_PSI not in published


def test_unknown_model_versions_are_counted_not_judged():
    events = make_events("v1", 300, HOUR, model_version="v1-not-registered")
    [group] = result_for(events).groups
    assert not group.has_reference and not group.judged
    assert group.events == 300
    assert "no reference" in group.note


def test_unknown_categories_are_reported_per_field():
    events = make_events(
        "v2", 300, HOUR, overrides={"job": "astronaut"}, warnings=["customer.job: unknown value 'astronaut'"]
    )
    result = result_for(events)
    [group] = result.groups
    assert group.unknown_categories["job"] == 300
    assert group.feature("job").unseen_values == {"astronaut": 300}
    assert group.warnings == {"job": 300}
    unknown = [p for p in window_points(result) if p.name == names.UNKNOWN_CATEGORY_VALUES]
    assert [(p.dimensions[names.FEATURE_DIMENSION], p.value) for p in unknown] == [("job", 300)]


def test_windows_add_up_to_the_window_of_all_their_events():
    # Given two hours of events
    first = make_events("v1", 400, HOUR, seed=3)
    second = make_events("v1", 300, HOUR, seed=4, overrides={"poutcome": "success"})
    # When their results are merged (the daily aggregate)
    merged = merge_groups([result_for(first).groups[0], result_for(second).groups[0]], DriftThresholds())
    # Then it equals judging all 700 events at once
    [together] = result_for(first + second).groups
    assert merged.events == together.events == 700
    for a, b in zip(merged.features, together.features, strict=True):
        assert a.counts == b.counts
        assert a.psi == pytest.approx(b.psi)
    assert merged.prediction.yes == together.prediction.yes
    assert merged.alerts == together.alerts


def test_report_shows_each_feature_with_its_plot():
    events = make_events("v1", 500, HOUR, overrides={"contact": "telephone"})
    result = result_for(events)
    page = render_html(result)
    assert page.startswith("<!doctype html>")
    for feature in SPECS["v1"].names:
        assert f'alt="{feature}"' in page
    assert page.count("data:image/png;base64,") == len(SPECS["v1"].names) + 1  # + the score histogram
    assert "PSI over 0.2: contact" in page
    # And a table-only report is available without matplotlib plots
    assert "data:image/png" not in render_html(result, plots=False)

"""The real scenario: a model trained on the earlier 60% of the data meets the later 40%.

The later rows are replayed as six weeks of production traffic through the serving path,
their real outcomes dropped as label files (7 to 27 days after each prediction, only those
known by the evaluation day), and the evaluation must show what really happened: the
subscription rate climbing far above what the model predicts, calibration breaking away
from the manifest's, the CBPE estimates reported next to the realised figures and
distrusted where the outcomes show concept drift, thin coverage in the newest weeks.
"""

from __future__ import annotations

import math

import pytest
from propensity_demo.evaluation_scenario import ReplayPlan, run_scenario, split_by_order, train_early

from propensity.evaluation import metric_names as names
from propensity.policy.evaluation import EvaluationThresholds

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def early_bundle(bank_data, tmp_path_factory):
    early, _ = split_by_order(bank_data, ReplayPlan().train_share)
    return train_early(early, "v1", tmp_path_factory.mktemp("early"), progress=lambda _m: None)


@pytest.fixture(scope="module")
def scenario(bank_data, early_bundle, tmp_path_factory):
    return run_scenario(
        bank_data, tmp_path_factory.mktemp("replay"), ReplayPlan(api="v1"), bundle_path=early_bundle
    )


def test_the_replay_covers_the_later_rows_as_six_weeks_of_traffic(scenario, bank_data):
    # Then every later row became one prediction, spread over six weekly windows
    summary = scenario.summary
    assert scenario.train_rows == int(len(bank_data) * 0.6)
    assert scenario.replay_rows == len(bank_data) - scenario.train_rows == summary.events_read
    assert [r.window.label for r in summary.results] == [
        "2026-01-05",
        "2026-01-12",
        "2026-01-19",
        "2026-01-26",
        "2026-02-02",
        "2026-02-09",
    ]
    # And every outcome dropped as a label file was ingested and matched its prediction
    assert sum(r.record.accepted for r in scenario.ingestion) == summary.outcomes_loaded
    assert sum(r.record.rejected for r in scenario.ingestion) == 0
    assert summary.unmatched_outcomes == 0 and summary.duplicate_events == 0


def test_the_real_shift_in_subscriptions_and_calibration_is_measured(scenario):
    summary = scenario.summary
    first = summary.results[0]
    baseline = first.baseline
    assert baseline is not None and baseline.f1 > 0
    # The first replayed week still looks like the training data: calibrated as on the holdout
    assert first.coverage.share == 1.0
    assert abs(first.realised.base_rate - baseline.base_rate) < 0.02
    assert first.realised.ece < 0.02
    # Later weeks: more customers subscribe than the model predicts, beyond sampling noise
    # (3 standard errors at the predicted rate), and far more (1.5x) in every week whose real
    # rate climbed past twice the training data's: the real drift of the data set, which shows
    # as calibration error well beyond the bound
    judged = [r for r in summary.results if r.signals.judged]
    assert len(judged) >= 3
    drifted = [r for r in summary.results[1:] if r.coverage.labelled >= 200]
    for r in drifted:
        p = r.realised.mean_probability
        assert r.realised.base_rate - p > 3 * math.sqrt(p * (1 - p) / r.coverage.labelled), r.window.label
    climbed = [r for r in drifted if r.realised.base_rate > 2 * baseline.base_rate]
    assert len(climbed) >= 3
    assert all(r.realised.base_rate > 1.5 * r.realised.mean_probability for r in climbed)
    assert max(r.realised.ece for r in drifted) > 5 * baseline.ece
    assert any(r.signals.ece_info for r in judged)
    # And the performance change is judged against the manifest's F1, as the alarm sees it
    for r in judged:
        assert r.signals.baseline_f1 == pytest.approx(baseline.f1)
        assert r.signals.f1_drop_relative == pytest.approx((baseline.f1 - r.realised.f1) / baseline.f1)
        assert r.signals.f1_warning == (r.signals.f1_drop_relative > 0.10)


def test_estimates_sit_next_to_realised_figures_and_say_where_they_fail(scenario):
    summary = scenario.summary
    first, *_, newest = summary.results
    # Every week has a CBPE estimate, labelled or not
    assert all(
        r.estimated.f1 is not None and r.estimated.rows == r.coverage.predictions for r in summary.results
    )
    # Where the model is still calibrated the estimate holds: trusted, and within the relative
    # gap the job trusts (the model is calibrated to its latest training month, 6.5% "yes";
    # this week's real rate is 5.4%)
    assert first.estimated.trust == "trusted"
    gap = abs(first.realised.positives - first.estimated.expected_positives)
    assert gap / first.estimated.expected_positives <= EvaluationThresholds().cbpe_max_relative_gap
    # Where outcomes show drift, CBPE (which assumes calibration) under-counts subscribers (by
    # more than the relative gap it trusts; by half or more where the real rate climbed past
    # twice the training data's) and the report says it cannot be trusted there
    drifted = [
        r for r in summary.results[1:] if r.coverage.labelled >= 200 and r.estimated.trust == "untrusted"
    ]
    assert len(drifted) >= 3
    limit = EvaluationThresholds().cbpe_max_relative_gap
    for r in drifted:
        expected_rate = r.estimated.expected_positives / r.estimated.rows
        assert r.realised.base_rate > (1 + limit) * expected_rate, r.window.label
        if r.realised.base_rate > 2 * first.baseline.base_rate:
            assert r.realised.base_rate > 1.5 * expected_rate, r.window.label
        assert "cannot be trusted" in r.estimated.caveats[0]
    # The newest weeks have few outcomes yet: thin coverage, and the estimate inherits the distrust
    assert newest.coverage.thin and newest.coverage.share < 0.1
    assert newest.estimated.trust == "untrusted"
    assert "latest window with enough outcomes" in newest.estimated.caveats[0]


def test_metrics_and_the_report_are_produced(scenario):
    summary = scenario.summary
    published = (scenario.archive / "evaluation" / "metrics.jsonl").read_text()
    assert f'"{names.F1_DROP}"' in published and f'"{names.ESTIMATED_F1}"' in published
    report = (scenario.archive / summary.report_key).read_text()
    for expected in (
        "manifest holdout",
        "**thin**",
        "untrusted",
        "## Segments",
        "age_group",
        "balance_bracket",
        "![reliability.png](reliability.png)",
        "![metrics-over-time.png](metrics-over-time.png)",
    ):
        assert expected in report
    for plot in summary.plots:
        assert (scenario.archive / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(summary.plots) == 2


def test_v2_traffic_replayed_through_the_service_joins_outcomes_sent_by_customer_reference(
    bank_data, trained, tmp_path
):
    # Given the v2 service (the session's v2 model) receiving the later rows as batch requests,
    # and outcomes of which a quarter carry only the customer reference (JSON lines files)
    plan = ReplayPlan(api="v2", weeks=2, batch_size=500)
    # When the scenario runs
    result = run_scenario(bank_data, tmp_path, plan, bundle_path=trained["v2"].bundle_path, with_plots=False)
    summary = result.summary
    # Then every replayed row was archived by the service once and evaluated
    assert summary.events_read == result.replay_rows and summary.duplicate_events == 0
    assert all(f.suffix == ".jsonl" for f in result.label_files)
    # And every outcome found its prediction, a quarter of them through the customer reference
    labelled = sum(r.coverage.labelled for r in summary.results)
    assert labelled == summary.outcomes_loaded and summary.unmatched_outcomes == 0
    assert 0.2 < summary.labelled_by_customer_ref / labelled < 0.3
    # And the v2 segments read v2's field names
    (first, *_) = summary.results
    assert {s.label for s in first.segments["balance_bracket"]} >= {"negative", "0-999", "1000-4999", "5000+"}
    assert "unknown" not in {s.label for s in first.segments["balance_bracket"]}

"""The job end to end on a local archive with hand-made traffic and outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from propensity.evaluation import metric_names as names
from propensity.evaluation.baselines import Baseline
from propensity.evaluation.job import run_evaluation
from propensity.evaluation.publish import LocalMetricsPublisher
from propensity.evaluation.results import RESULTS_PREFIX, ResultStore
from propensity.evaluation.windows import complete_windows
from propensity.labels.ingest import ingest_all
from propensity.policy.evaluation import EvaluationThresholds
from tests.unit.evaluation.conftest import MONDAY, FixedBaselines, label_csv, make_event, write_events

WEEK = timedelta(days=7)
NOW = MONDAY + 2 * WEEK + timedelta(hours=3)  # the job runs early on the Monday after week 2
THRESHOLDS = EvaluationThresholds(lookback_windows=2)


def traffic(week: int, n: int, rng: np.random.Generator, *, shift: float = 0.0):
    """n predictions in ``week``, outcomes drawn from the probability (+ ``shift``: concept drift)."""
    p = rng.beta(1.0, 3.0, size=n)
    y = rng.random(n) < np.clip(p + shift, 0, 1)
    start = MONDAY + week * WEEK
    events = [
        make_event(f"w{week}-{i}", float(p[i]), at=start + timedelta(minutes=20 * i), threshold=0.4)
        for i in range(n)
    ]
    return events, y


@pytest.fixture
def world(store, tmp_path):
    """Week 0 fully labelled and calibrated; week 1 drifting (outcomes far above the
    probabilities), 10% labelled; a label row for a prediction that was never archived."""
    rng = np.random.default_rng(11)
    week0, y0 = traffic(0, 400, rng)
    week1, y1 = traffic(1, 400, rng, shift=0.35)
    write_events(tmp_path / "archive", week0 + week1 + week0[:5])  # 5 events delivered twice
    rows = [(e.prediction_id, "yes" if y else "no", "2026-03-12") for e, y in zip(week0, y0, strict=True)]
    store.put("labels/week0.csv", label_csv(rows))
    rows = [
        (e.prediction_id, "yes" if y else "no", "2026-03-15")
        for e, y in list(zip(week1, y1, strict=True))[:40]
    ]
    store.put("labels/week1.csv", label_csv([*rows, ("never-archived", "yes", "2026-03-14")]))
    ingest_all(store, now=NOW)
    return y0, y1


def baselines(f1: float, conversion: float) -> FixedBaselines:
    return FixedBaselines({("v1", "v1-test"): Baseline(f1=f1, precision=conversion, ece=0.01, threshold=0.4)})


def test_windows_are_evaluated_stored_published_and_reported(store, engine, world):
    # Given two weeks of traffic and outcomes, and a manifest baseline F1 far above what week 0 reaches
    publisher = LocalMetricsPublisher()
    # When the weekly job runs
    summary = run_evaluation(
        store, engine, baselines(f1=0.95, conversion=0.5), publisher, THRESHOLDS, now=NOW
    )
    # Then both complete weeks are evaluated, duplicates dropped, the unknown outcome reported
    assert [w.start for w in summary.windows] == [MONDAY, MONDAY + WEEK]
    assert (summary.events_read, summary.duplicate_events) == (800, 5)
    assert summary.unmatched_outcomes == 1
    week0, week1 = summary.results
    assert week0.coverage.share == 1.0 and not week0.coverage.thin
    assert week1.coverage.labelled == 40 and week1.coverage.thin
    # And week 0 is judged against the baselines: F1 below 0.95 by more than 10% -> warning
    assert week0.signals.judged and week0.signals.f1_warning
    assert week0.signals.f1_drop_relative == pytest.approx((0.95 - week0.realised.f1) / 0.95)
    assert week0.signals.baseline_conversion_source.startswith("manifest")
    assert not week1.signals.judged
    # And the CBPE estimate of week 1 is unverified (40 outcomes), week 0's trusted (calibrated)
    assert week0.estimated.trust == "trusted"
    assert week1.estimated.trust == "unverified"
    # And the alarm metrics carry the API version only, the rest the model version too
    by_name = {(d.name, tuple(sorted(d.dimensions))): d.value for d in publisher.published}
    assert by_name[(names.F1_DROP, (names.DIMENSION_API,))] == pytest.approx(week0.signals.f1_drop_relative)
    assert by_name[(names.F1, (names.DIMENSION_API, names.DIMENSION_MODEL))] == pytest.approx(
        week0.realised.f1
    )
    assert by_name[(names.ESTIMATED_F1, (names.DIMENSION_API, names.DIMENSION_MODEL))] == pytest.approx(
        week1.estimated.f1
    )
    # And the results and the report are stored
    assert len(store.list(RESULTS_PREFIX)) == 2
    report = store.get(summary.report_key).decode()
    assert "**thin**" in report and "**WARNING**" in report and "match no prediction" in report


def test_rerunning_the_same_week_changes_nothing_but_the_time(store, engine, world):
    # Given a first run
    first = run_evaluation(
        store, engine, baselines(0.5, 0.5), LocalMetricsPublisher(), THRESHOLDS, now=NOW, with_plots=False
    )
    # When the job runs again (a retry, or a manual re-run)
    second = run_evaluation(
        store,
        engine,
        baselines(0.5, 0.5),
        LocalMetricsPublisher(),
        THRESHOLDS,
        now=NOW + timedelta(hours=1),
        with_plots=False,
    )
    # Then the stored results are rewritten, not duplicated, with the same figures
    assert len(store.list(RESULTS_PREFIX)) == 2
    strip = {"computed_at"}
    assert [r.model_dump(exclude=strip) for r in first.results] == [
        r.model_dump(exclude=strip) for r in second.results
    ]


def test_drift_seen_in_outcomes_makes_later_estimates_untrusted(store, engine, tmp_path):
    # Given a week whose outcomes show concept drift, and a following week with no outcome yet
    rng = np.random.default_rng(3)
    week0, y0 = traffic(0, 400, rng, shift=0.35)
    week1, _ = traffic(1, 400, rng, shift=0.35)
    write_events(tmp_path / "archive", week0 + week1)
    store.put(
        "labels/w0.csv",
        label_csv(
            [(e.prediction_id, "yes" if y else "no", "2026-03-12") for e, y in zip(week0, y0, strict=True)]
        ),
    )
    ingest_all(store, now=NOW)
    # When evaluated
    summary = run_evaluation(
        store, engine, baselines(0.5, 0.3), LocalMetricsPublisher(), THRESHOLDS, now=NOW, with_plots=False
    )
    week0_result, week1_result = summary.results
    # Then week 0's estimate is untrusted (calibration off on its outcomes), its realised
    # subscription rate well above what CBPE expected, and week 1 inherits the distrust
    assert week0_result.estimated.trust == "untrusted"
    assert week0_result.realised.positives > week0_result.estimated.expected_positives * 1.5
    assert week0_result.signals.ece_info
    assert week1_result.estimated.trust == "untrusted"
    assert "latest window with enough outcomes (2026-03-02" in week1_result.estimated.caveats[0]


def test_conversion_baseline_comes_from_history_once_there_is_some(store, engine, world):
    # Given a first run that judged week 0
    run_evaluation(
        store, engine, baselines(0.5, 0.9), LocalMetricsPublisher(), THRESHOLDS, now=NOW, with_plots=False
    )
    history = ResultStore(store).history("v1", "v1-test")
    week0_conversion = history[0].business.conversion_rate
    # And week 1 fully labelled afterwards, with a much lower conversion
    rows = [(f"w1-{i}", "no", "2026-03-20") for i in range(400)]
    store.put("labels/week1-all-no.csv", label_csv(rows))
    ingest_all(store, now=NOW + WEEK)
    # When the job evaluates week 1 again
    later = run_evaluation(
        store, engine, baselines(0.5, 0.9), LocalMetricsPublisher(), THRESHOLDS, now=NOW, with_plots=False
    )
    week1 = later.results[1]
    # Then its conversion baseline is week 0's realised conversion, and the collapse warns
    assert week1.signals.judged
    assert week1.signals.baseline_conversion == pytest.approx(week0_conversion)
    assert week1.signals.baseline_conversion_source == "mean of the previous 1 judged window(s)"
    assert week1.business.conversion_rate == 0.0 and week1.signals.conversion_warning


def test_no_traffic_is_a_report_not_a_crash(store, engine):
    summary = run_evaluation(
        store,
        engine,
        baselines(0.5, 0.5),
        LocalMetricsPublisher(),
        THRESHOLDS,
        now=datetime(2026, 1, 5, tzinfo=UTC),
        with_plots=False,
    )
    assert summary.results == [] and summary.metrics_published == 0
    assert "no predictions in the evaluated windows" in summary.notes
    assert "No window has enough outcomes yet" in store.get(summary.report_key).decode()


def test_lookback_windows_are_the_complete_weeks_before_now():
    windows = complete_windows(datetime(2026, 3, 18, 12, tzinfo=UTC), days=7, count=3)
    assert [(w.start.date().isoformat(), w.end.date().isoformat()) for w in windows] == [
        ("2026-02-23", "2026-03-02"),
        ("2026-03-02", "2026-03-09"),
        ("2026-03-09", "2026-03-16"),
    ]
    assert all(w.start.weekday() == 0 for w in windows)


def test_a_window_is_rejoined_only_when_its_outcomes_change_and_late_labels_count_once(store, engine, world):
    # Given a first run over both weeks
    first = run_evaluation(
        store, engine, baselines(0.5, 0.5), LocalMetricsPublisher(), THRESHOLDS, now=NOW, with_plots=False
    )
    assert first.windows_rejoined == 2
    # When the job runs again with nothing new
    engine.log.queries.clear()
    again = run_evaluation(
        store, engine, baselines(0.5, 0.5), LocalMetricsPublisher(), THRESHOLDS, now=NOW, with_plots=False
    )
    # Then no window is re-joined: the stored cubes are reused, and the figures are the same
    assert (again.windows_rejoined, again.windows_reused) == (0, 2)
    assert "evaluation_cube" not in [q.name for q in engine.log.queries]
    assert [r.coverage for r in again.results] == [r.coverage for r in first.results]
    # When a late label file arrives for week 1, re-sending one outcome it already had and adding one
    known = store.get("labels/week1.csv").decode().splitlines()[1].split(",")[0]
    store.put("labels/late.csv", label_csv([(known, "no", "2026-03-16"), ("w1-399", "yes", "2026-03-16")]))
    ingest_all(store, now=NOW)
    later = run_evaluation(
        store, engine, baselines(0.5, 0.5), LocalMetricsPublisher(), THRESHOLDS, now=NOW, with_plots=False
    )
    # Then the windows the new file can touch (both: its outcomes are dated after each one's
    # start) are re-joined, and the late labels count once: the re-sent one changes nothing in
    # the count, the new one adds exactly one
    assert later.windows_rejoined == 2
    assert later.results[1].coverage.labelled == first.results[1].coverage.labelled + 1
    assert later.results[0].coverage == first.results[0].coverage
    # And a file dated before week 1 began touches week 0 only
    week0_id = store.get("labels/week0.csv").decode().splitlines()[1].split(",")[0]
    store.put("labels/early.csv", label_csv([(week0_id, "no", "2026-03-03")]))
    ingest_all(store, now=NOW)
    early = run_evaluation(
        store, engine, baselines(0.5, 0.5), LocalMetricsPublisher(), THRESHOLDS, now=NOW, with_plots=False
    )
    assert (early.windows_rejoined, early.windows_reused) == (1, 1)
    assert early.results[0].coverage == first.results[0].coverage  # an older date loses: counted once
    # And running once more re-joins nothing
    assert (
        run_evaluation(
            store, engine, baselines(0.5, 0.5), LocalMetricsPublisher(), THRESHOLDS, now=NOW, with_plots=False
        ).windows_rejoined
        == 0
    )

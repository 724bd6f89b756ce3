"""Joining events with outcomes, segments (v1 and v2 field names), coverage, served threshold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from propensity.evaluation.compute import evaluate_group
from propensity.evaluation.join import JoinStats, join_window
from propensity.evaluation.windows import window_containing
from propensity.labels.models import Outcome
from propensity.labels.outcomes import OutcomeBook
from propensity.policy.evaluation import EvaluationThresholds
from tests.unit.evaluation.conftest import MONDAY, make_event

WINDOW = window_containing(MONDAY, 7)
THRESHOLDS = EvaluationThresholds(min_labelled_rows=1)
INGESTED = datetime(2026, 4, 1, tzinfo=UTC)


def outcome(pid: str | None, value: str, day: date, ref: str | None = None, sha: str = "a" * 64) -> Outcome:
    return Outcome(
        prediction_id=pid,
        customer_ref=ref,
        outcome=value,
        outcome_date=day,
        file_sha256=sha,
        source_key="labels/x.csv",
        source_row=2,
        ingested_at=INGESTED,
    )


def book_of(*outcomes: Outcome) -> OutcomeBook:
    book = OutcomeBook()
    for o in outcomes:
        book.add(o)
    return book


def test_duplicate_and_out_of_window_events_are_dropped():
    # Given the same prediction archived twice and one event of the next week
    events = [
        make_event("p-1", 0.7),
        make_event("p-1", 0.7),
        make_event("p-2", 0.2),
        make_event("p-3", 0.9, at=WINDOW.end + timedelta(minutes=5)),
    ]
    stats = JoinStats()
    # When the window is joined
    groups = join_window(events, book_of(outcome("p-1", "yes", date(2026, 3, 20))), WINDOW, stats)
    # Then each prediction counts once and only this window's events are in
    rows = groups[("v1", "v1-test")]
    assert rows.prediction_ids == ["p-1", "p-2"]
    assert rows.label.tolist() == [1, -1]
    assert (stats.events, stats.duplicate_events, stats.outside_window, stats.labelled_by_id) == (2, 1, 1, 1)


def test_customer_reference_outcomes_join_the_latest_prediction_before_the_outcome():
    # Given a customer scored on Monday and on Thursday, and another with an explicit id too
    events = [
        make_event("p-1", 0.3, api="v2", model="v2-test", customer_ref="c-1", at=MONDAY + timedelta(hours=9)),
        make_event("p-2", 0.6, api="v2", model="v2-test", customer_ref="c-1", at=MONDAY + timedelta(days=3)),
        make_event("p-3", 0.6, api="v2", model="v2-test", customer_ref="c-2", at=MONDAY + timedelta(hours=9)),
    ]
    book = book_of(
        outcome(None, "yes", date(2026, 3, 3), ref="c-1"),  # after Monday's, before Thursday's
        outcome("p-3", "no", date(2026, 3, 10)),
        outcome(None, "yes", date(2026, 3, 10), ref="c-2"),  # loses to the explicit prediction id
    )
    stats = JoinStats()
    # When joined
    rows = join_window(events, book, WINDOW, stats)[("v2", "v2-test")]
    # Then c-1's outcome belongs to Monday's prediction, and p-3 keeps its explicit outcome
    assert dict(zip(rows.prediction_ids, rows.label.tolist(), strict=True)) == {"p-1": 1, "p-2": -1, "p-3": 0}
    assert stats.labelled_by_customer_ref == 1 and stats.labelled_by_id == 1


def test_realised_figures_are_scikit_learns_at_the_served_decisions():
    # Given 400 predictions served at threshold 0.3, 300 of them with an outcome
    rng = np.random.default_rng(5)
    p = rng.random(400)
    y = (rng.random(400) < p).astype(int)
    events = [make_event(f"p-{i}", float(p[i]), threshold=0.3) for i in range(400)]
    book = book_of(*(outcome(f"p-{i}", "yes" if y[i] else "no", date(2026, 3, 20)) for i in range(300)))
    rows = join_window(events, book, WINDOW, JoinStats())[("v1", "v1-test")]
    # When the group is evaluated
    result = evaluate_group(
        rows,
        WINDOW,
        baseline=None,
        history_conversion=[],
        inherited_distrust=None,
        thresholds=EvaluationThresholds(),
        computed_at=INGESTED,
    )
    # Then realised precision/recall/F1 are scikit-learn's on the labelled rows at the served decisions
    order = [int(pid.split("-")[1]) for pid in rows.prediction_ids]
    labelled = [i for i in order if i < 300]
    y_l, d_l = y[labelled], p[labelled] >= 0.3
    assert result.realised.f1 == pytest.approx(f1_score(y_l, d_l))
    assert result.realised.precision == pytest.approx(precision_score(y_l, d_l))
    assert result.realised.recall == pytest.approx(recall_score(y_l, d_l))
    assert result.threshold == 0.3
    assert result.coverage.model_dump() == {"predictions": 400, "labelled": 300, "share": 0.75, "thin": False}
    # And without a baseline the window is reported but not judged (no alarm metric from it)
    assert not result.signals.judged and result.signals.reason.startswith("model version not found")
    assert result.signals.ece == pytest.approx(result.realised.ece) and result.signals.ece_info


def test_segments_use_each_api_versions_field_names():
    # Given v1 events (balance) and v2 events (balance_eur), with known outcomes
    v1 = [
        make_event("a", 0.8, age=22, job="student", balance=-50),
        make_event("b", 0.2, age=70, job="retired", balance=7000),
    ]
    v2 = [
        make_event("c", 0.8, api="v2", model="v2-test", age=30, job="admin.", balance_eur=2500),
        make_event("d", 0.1, api="v2", model="v2-test", age=30, job="admin.", balance_eur=None),
    ]
    book = book_of(
        outcome("a", "yes", date(2026, 3, 20)),
        outcome("b", "yes", date(2026, 3, 20)),
        outcome("c", "no", date(2026, 3, 20)),
    )
    groups = join_window(v1 + v2, book, WINDOW, JoinStats())
    # When each group is evaluated
    results = {
        key[0]: evaluate_group(
            rows,
            WINDOW,
            baseline=None,
            history_conversion=[],
            inherited_distrust=None,
            thresholds=THRESHOLDS,
            computed_at=INGESTED,
        )
        for key, rows in groups.items()
    }

    # Then segment labels come from the right fields, a missing value is "unknown"
    def table(result, family):
        return {s.label: (s.predictions, s.labelled) for s in result.segments[family]}

    assert table(results["v1"], "age_group") == {"<25": (1, 1), "65+": (1, 1)}
    assert table(results["v1"], "balance_bracket") == {"negative": (1, 1), "5000+": (1, 1)}
    assert table(results["v1"], "job") == {"retired": (1, 1), "student": (1, 1)}
    assert table(results["v2"], "balance_bracket") == {"1000-4999": (1, 1), "unknown": (1, 0)}
    assert table(results["v2"], "age_group") == {"25-34": (2, 1)}
    # And a segment's figures are its own rows': the retired customer was a missed subscriber
    retired = next(s for s in results["v1"].segments["job"] if s.label == "retired")
    assert retired.business.unexpected_subscribers == 1 and retired.realised.recall == 0.0
    assert retired.small  # one row is far too few to judge
    assert retired.estimated_f1 == 0.0  # "no" decision: CBPE expects no true positive


def test_thin_coverage_is_marked_and_not_judged():
    # Given 300 predictions of which 30 have an outcome
    events = [make_event(f"p-{i}", 0.6 if i % 2 else 0.2) for i in range(300)]
    book = book_of(*(outcome(f"p-{i}", "yes", date(2026, 3, 20)) for i in range(30)))
    rows = join_window(events, book, WINDOW, JoinStats())[("v1", "v1-test")]
    # When evaluated
    result = evaluate_group(
        rows,
        WINDOW,
        baseline=None,
        history_conversion=[],
        inherited_distrust=None,
        thresholds=EvaluationThresholds(),
        computed_at=INGESTED,
    )
    # Then figures exist but are marked provisional, and no alarm signal is judged
    assert result.coverage.thin and result.coverage.share == pytest.approx(0.1)
    assert result.realised is not None
    assert not result.signals.judged and "thin label coverage" in result.signals.reason
    assert any("thin coverage: 10%" in note for note in result.notes)
    assert result.estimated.trust == "unverified"


def test_mixed_thresholds_and_disagreeing_decisions_are_reported():
    events = [
        make_event("p-1", 0.4, threshold=0.3),
        make_event("p-2", 0.4, threshold=0.3),
        make_event("p-3", 0.4, threshold=0.5),
    ]
    rows = join_window(events, OutcomeBook(), WINDOW, JoinStats())[("v1", "v1-test")]
    result = evaluate_group(
        rows,
        WINDOW,
        baseline=None,
        history_conversion=[],
        inherited_distrust=None,
        thresholds=THRESHOLDS,
        computed_at=INGESTED,
    )
    assert result.threshold == 0.3
    assert any("2 different thresholds" in n for n in result.notes)
    assert any("1 served decisions disagree" in n for n in result.notes)
    assert result.realised is None and result.business is None

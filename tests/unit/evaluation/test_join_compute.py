"""The join in the engine (DuckDB over a real archive and outcome store), then the figures:
duplicates, customer references, segments (v1 and v2 field names), coverage, thresholds."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from propensity.archive.layout import LocalArchiveWriter
from propensity.evaluation.compute import evaluate_group
from propensity.evaluation.cube import file_cube
from propensity.evaluation.partials import split_rows, window_hours
from propensity.evaluation.windows import window_containing
from propensity.labels.layout import accepted_key
from propensity.labels.models import Outcome
from propensity.policy.evaluation import EvaluationThresholds
from propensity.query.duckdb_engine import DuckDBEngine
from propensity.query.sql import evaluation_cube
from tests.unit.evaluation.conftest import MONDAY, make_event

WINDOW = window_containing(MONDAY, 7)
THRESHOLDS = EvaluationThresholds(min_labelled_rows=1)
INGESTED = datetime(2026, 4, 1, tzinfo=UTC)


def outcome(
    pid: str | None, value: str, day: date, ref: str | None = None, sha: str = "a" * 64, row: int = 2
) -> Outcome:
    return Outcome(
        prediction_id=pid,
        customer_ref=ref,
        outcome=value,
        outcome_date=day,
        file_sha256=sha,
        source_key="labels/x.csv",
        source_row=row,
        ingested_at=INGESTED,
    )


class Joined:
    """A window joined by the engine: its groups' cubes and what was read."""

    def __init__(self, root: Path, events, outcomes, customer_outcomes: bool = True) -> None:
        LocalArchiveWriter(root).write(events)
        by_file = defaultdict(list)
        for o in outcomes:
            by_file[o.file_sha256].append(o)
        for sha, rows in by_file.items():
            path = root / accepted_key(sha)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(o.model_dump_json() + "\n" for o in rows))
        engine = DuckDBEngine(root)
        hours = window_hours(WINDOW)
        query = evaluation_cube(hours, WINDOW.start, WINDOW.end, customer_outcomes=customer_outcomes)
        rows, read = split_rows(engine.run(query))
        self.rows = sorted(rows, key=lambda r: sorted((k, str(v)) for k, v in r.items()))
        self.cubes = file_cube(rows)
        self.counts = read.model_dump()

    def result(self, key, thresholds=THRESHOLDS):
        return evaluate_group(
            self.cubes[key],
            WINDOW,
            baseline=None,
            history_conversion=[],
            inherited_distrust=None,
            thresholds=thresholds,
            computed_at=INGESTED,
        )


def test_duplicate_and_out_of_window_events_are_dropped(tmp_path):
    # Given the same prediction archived twice and one event of the next week (read: it is
    # filed within the arrival slack of the window's last hour)
    events = [
        make_event("p-1", 0.7),
        make_event("p-1", 0.7),
        make_event("p-2", 0.2),
        make_event("p-3", 0.9, at=WINDOW.end + timedelta(minutes=5)),
    ]
    # When the window is joined
    joined = Joined(tmp_path, events, [outcome("p-1", "yes", date(2026, 3, 20))])
    # Then each prediction counts once and only this window's events are in
    overall = joined.cubes[("v1", "v1-test")].overall
    assert (overall.predictions, overall.labelled) == (2, 1)
    assert (joined.counts["window_rows"], joined.counts["window_events"]) == (3, 2)


def test_without_customer_outcomes_the_one_pass_form_gives_the_same_cube(tmp_path):
    # Given copies, an event of the next week, a synthetic event, v1 and v2 traffic, a bad
    # line and outcomes by id only (one of them answered twice, the later answer winning)
    later = make_event("p-5", 0.6, at=MONDAY + timedelta(hours=11))
    events = [
        make_event("p-1", 0.7),
        make_event("p-1", 0.7),
        make_event("p-2", 0.2, api="v2", model="v2-test", threshold=0.3),
        make_event("p-3", 0.9, at=WINDOW.end + timedelta(minutes=5)),
        make_event("p-4", 0.4).model_copy(update={"synthetic": True}),
        later,
    ]
    answers = [
        outcome("p-1", "yes", date(2026, 3, 20)),
        outcome("p-2", "no", date(2026, 3, 20), row=3),
        outcome("p-5", "no", date(2026, 3, 20), row=4),
        outcome("p-5", "yes", date(2026, 3, 21), row=5),
    ]
    # When the window is joined by both forms of the query
    full = Joined(tmp_path / "full", events, answers)
    folder = next(p.parent for p in sorted((tmp_path / "full" / "predictions").rglob("*")) if p.is_file())
    (folder / "bad.jsonl").write_text("{not json\n")
    full = Joined(tmp_path / "full", [], answers)
    one_pass = Joined(tmp_path / "full", [], answers, customer_outcomes=False)
    # Then they count the same cells and read the same rows
    assert one_pass.rows == full.rows
    assert one_pass.counts == full.counts
    assert full.counts["bad_lines"] == 1 and full.counts["synthetic_events"] == 1
    assert full.cubes[("v1", "v1-test")].overall.labelled == 2  # p-1 and p-5 (its later answer)


def test_customer_reference_outcomes_join_the_latest_prediction_before_the_outcome(tmp_path):
    # Given a customer scored on Monday and on Thursday, and another with an explicit id too
    events = [
        make_event("p-1", 0.3, api="v2", model="v2-test", customer_ref="c-1", at=MONDAY + timedelta(hours=9)),
        make_event("p-2", 0.6, api="v2", model="v2-test", customer_ref="c-1", at=MONDAY + timedelta(days=3)),
        make_event("p-3", 0.6, api="v2", model="v2-test", customer_ref="c-2", at=MONDAY + timedelta(hours=9)),
    ]
    outcomes = [
        outcome(None, "yes", date(2026, 3, 3), ref="c-1", row=2),  # after Monday's, before Thursday's
        outcome("p-3", "no", date(2026, 3, 10), row=3),
        outcome(None, "yes", date(2026, 3, 10), ref="c-2", row=4),  # loses to the explicit prediction id
    ]
    # When joined
    joined = Joined(tmp_path, events, outcomes)
    cube = joined.cubes[("v2", "v2-test")]
    # Then c-1's outcome belongs to Monday's prediction (p = 0.3, a subscriber), p-2 has none,
    # and p-3 keeps its explicit "no"
    labels = cube.overall.events.sum(axis=(1, 2))  # [label + 1, bin]
    assert labels[2, 300] == 1  # the subscriber is Monday's 0.3
    assert labels[1, 600] == 1 and labels[0, 600] == 1  # p-3 "no", p-2 unknown
    assert cube.overall.by_customer == 1 and cube.overall.labelled == 2


def test_a_customer_outcome_goes_once_even_with_several_files(tmp_path):
    # Given the same customer outcome sent in two files, and a correction dated later
    events = [make_event("p-1", 0.3, api="v2", model="v2-test", customer_ref="c-1")]
    outcomes = [
        outcome(None, "no", date(2026, 3, 3), ref="c-1", sha="a" * 64),
        outcome(None, "no", date(2026, 3, 3), ref="c-1", sha="b" * 64),
        outcome(None, "yes", date(2026, 3, 5), ref="c-1", sha="c" * 64),
    ]
    cube = Joined(tmp_path, events, outcomes).cubes[("v2", "v2-test")]
    # Then the prediction is labelled once, with the latest outcome
    assert cube.overall.labelled == 1 and cube.overall.predictions == 1
    assert cube.overall.events[2].sum() == 1


def test_realised_figures_are_scikit_learns_at_the_served_decisions(tmp_path):
    # Given 400 predictions served at threshold 0.3, 300 of them with an outcome
    rng = np.random.default_rng(5)
    p = rng.random(400)
    y = (rng.random(400) < p).astype(int)
    events = [make_event(f"p-{i}", float(p[i]), threshold=0.3) for i in range(400)]
    outcomes = [outcome(f"p-{i}", "yes" if y[i] else "no", date(2026, 3, 20), row=i) for i in range(300)]
    # When the group is evaluated
    result = Joined(tmp_path, events, outcomes).result(("v1", "v1-test"), EvaluationThresholds())
    # Then realised precision/recall/F1/brier are scikit-learn's on the labelled rows at the served decisions
    y_l, p_l = y[:300], p[:300]
    d_l = p_l >= 0.3
    assert result.realised.f1 == pytest.approx(f1_score(y_l, d_l))
    assert result.realised.precision == pytest.approx(precision_score(y_l, d_l))
    assert result.realised.recall == pytest.approx(recall_score(y_l, d_l))
    assert result.realised.brier == pytest.approx(np.mean((p_l - y_l) ** 2))
    # And the AUC from the 1000-bin histogram is within its stated bound of the exact one
    exact = roc_auc_score(y_l, p_l)
    assert result.auc_error_bound is not None and result.auc_error_bound < 0.01
    assert abs(result.realised.roc_auc - exact) <= result.auc_error_bound + 1e-12
    assert result.threshold == 0.3
    assert result.coverage.model_dump() == {"predictions": 400, "labelled": 300, "share": 0.75, "thin": False}
    # And without a baseline the window is reported but not judged (no alarm metric from it)
    assert not result.signals.judged and result.signals.reason.startswith("model version not found")
    assert result.signals.ece == pytest.approx(result.realised.ece) and result.signals.ece_info


def test_segments_use_each_api_versions_field_names(tmp_path):
    # Given v1 events (balance) and v2 events (balance_eur), with known outcomes
    v1 = [
        make_event("a", 0.8, age=22, job="student", balance=-50),
        make_event("b", 0.2, age=70, job="retired", balance=7000),
    ]
    v2 = [
        make_event("c", 0.8, api="v2", model="v2-test", age=30, job="admin.", balance_eur=2500),
        make_event("d", 0.1, api="v2", model="v2-test", age=30, job="admin.", balance_eur=None),
    ]
    outcomes = [
        outcome("a", "yes", date(2026, 3, 20), row=2),
        outcome("b", "yes", date(2026, 3, 20), row=3),
        outcome("c", "no", date(2026, 3, 20), row=4),
    ]
    joined = Joined(tmp_path, v1 + v2, outcomes)
    # When each group is evaluated
    results = {key[0]: joined.result(key) for key in joined.cubes}

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


def test_thin_coverage_is_marked_and_not_judged(tmp_path):
    # Given 300 predictions of which 30 have an outcome
    events = [make_event(f"p-{i}", 0.6 if i % 2 else 0.2) for i in range(300)]
    outcomes = [outcome(f"p-{i}", "yes", date(2026, 3, 20), row=i) for i in range(30)]
    # When evaluated
    result = Joined(tmp_path, events, outcomes).result(("v1", "v1-test"), EvaluationThresholds())
    # Then figures exist but are marked provisional, and no alarm signal is judged
    assert result.coverage.thin and result.coverage.share == pytest.approx(0.1)
    assert result.realised is not None
    assert not result.signals.judged and "thin label coverage" in result.signals.reason
    assert any("thin coverage: 10%" in note for note in result.notes)
    assert result.estimated.trust == "unverified"


def test_mixed_thresholds_and_disagreeing_decisions_are_reported(tmp_path):
    # Given two thresholds in one model version's events, and one decision that contradicts its own
    events = [
        make_event("p-1", 0.4, threshold=0.3),
        make_event("p-2", 0.4, threshold=0.3),
        make_event("p-3", 0.4, threshold=0.5).model_copy(update={"decision": "yes"}),
    ]
    result = Joined(tmp_path, events, []).result(("v1", "v1-test"))
    assert result.threshold == 0.3
    assert any("2 different thresholds" in n for n in result.notes)
    assert any("1 served decisions disagree" in n for n in result.notes)
    assert result.realised is None and result.business is None

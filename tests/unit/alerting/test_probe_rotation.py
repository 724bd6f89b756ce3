"""Which golden cases each probe run sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from propensity.bundle.golden import GoldenCase
from propensity.probe.golden import rotate
from propensity.probe.runner import run_index

CASES = [
    GoldenCase(name=f"c{i}", request={}, probability=0.1, decision="no", confidence="high") for i in range(24)
]


def test_consecutive_runs_cover_every_case_without_repeats():
    # Given 8 consecutive runs 30 s apart (two per scheduled minute), 3 cases each
    start = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    runs = [rotate(CASES, 3, run_index(start + timedelta(seconds=30 * m), 30)) for m in range(8)]

    # Then together they sent every one of the 24 cases exactly once
    sent = [case.name for run in runs for case in run]
    assert sorted(sent) == sorted(c.name for c in CASES) and len(sent) == 24


def test_rotation_wraps_around_and_small_sets_are_sent_whole():
    assert [c.name for c in rotate(CASES, 5, 4)] == ["c20", "c21", "c22", "c23", "c0"]
    assert rotate(CASES[:2], 3, 7) == CASES[:2]


def test_run_index_counts_run_intervals():
    moment = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    assert run_index(moment + timedelta(minutes=5), 300) == run_index(moment, 300) + 1
    assert run_index(moment + timedelta(seconds=29), 30) == run_index(moment, 30)
    assert run_index(moment + timedelta(seconds=30), 30) == run_index(moment, 30) + 1

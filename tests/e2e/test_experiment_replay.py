"""Proof by replay: on the real data, a retrained challenger meets the static champion in an
experiment that reaches a pre-registered decision through the real commands (see
``tests/e2e/experiment_replay.py`` and docs/experiments.md)."""

from __future__ import annotations

import pytest

from tests.e2e.experiment_replay import run_replay

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def replay(bank_data, tmp_path_factory):
    return run_replay(bank_data, tmp_path_factory.mktemp("experiment-replay"), progress=lambda _m: None)


def test_every_replayed_customer_was_served_by_its_arm_and_judged_on_outcomes(replay):
    arms = replay.analysis["arms"]
    assert arms["champion"]["model_version"] == replay.champion
    assert arms["challenger"]["model_version"] == replay.challenger
    served = arms["champion"]["predictions"] + arms["challenger"]["predictions"]
    # every row served during the experiment belongs to an arm; after the stop, none do
    assert served == sum(w["predictions"] for w in replay.weekly if w["arms"])
    assert abs(arms["challenger"]["predictions"] / served - 0.5) < 0.03
    assert arms["champion"]["labelled"] == arms["champion"]["predictions"]
    assert arms["challenger"]["labelled"] == arms["challenger"]["predictions"]
    assert not any("fallback" in note for note in replay.analysis["notes"])


def test_the_pre_registered_test_decides_and_the_stop_returns_traffic_to_the_champion(replay):
    assert "MDE" in replay.start_output and "POLICY OVERRIDE" in replay.start_output
    assert replay.decided_week is not None
    assert replay.analysis["verdict"] in {"challenger_better", "champion_better"}
    assert replay.analysis["test"]["p_value"] <= 0.05
    assert replay.after_stop_arms == set()
    assert replay.analysis["experiment"]["end"]["reason"] == "pre-registered test decided"
    assert replay.report is not None and replay.report.read_text().count("data:image/png") == 3

"""Proof by replay: on the real data, a retrained challenger meets the static champion in an
experiment that reaches a pre-registered decision through the real commands (see
``tests/e2e/experiment_replay.py`` and docs/experiments.md)."""

from __future__ import annotations

import pytest

from propensity.gate.record import latest_verdict
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from tests.e2e.experiment_replay import is_comparison, run_replay

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
    assert "MDE" in replay.start_output
    assert replay.decided_week is not None
    assert replay.analysis["verdict"] in {"challenger_better", "champion_better"}
    assert replay.analysis["test"]["p_value"] <= 0.05
    assert replay.after_stop_arms == set()
    assert replay.analysis["experiment"]["end"]["reason"] == "pre-registered test decided"
    assert replay.report is not None and replay.report.read_text().count("data:image/png") == 3


def test_the_challenger_went_through_the_real_gate_and_only_its_floors_may_be_overridden(replay):
    registry = Registry(LocalBlobStore(replay.workdir / "registry"))
    verdict = latest_verdict(registry, "v2", replay.challenger, against=replay.champion)
    assert verdict is not None and verdict.passed == replay.gate.passed
    override = replay.analysis["experiment"]["record"]["policy_override"]
    if replay.gate.passed:
        assert override is None and "POLICY OVERRIDE" not in replay.start_output
    else:
        failures = replay.gate.report.failures()
        assert failures and not any(is_comparison(c) or c.kind == "integrity" for c in failures)
        assert "POLICY OVERRIDE" in replay.start_output
        assert all(c.name in override for c in failures)
    # judged on time, the retrain ranks the months after the champion's data better than it
    over_time = replay.gate.report.over_time
    assert over_time is not None and over_time.mean_difference is not None
    assert over_time.mean_difference > 0

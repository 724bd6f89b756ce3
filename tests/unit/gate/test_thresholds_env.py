"""The retraining build passes the stage's gate thresholds as JSON in an environment variable."""

from __future__ import annotations

import pytest

from propensity.commands.training import gate_thresholds_from_env
from propensity.policy.gate import GATE_THRESHOLDS_ENV, GateThresholds


def test_the_stage_thresholds_are_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(GATE_THRESHOLDS_ENV, raising=False)
    assert gate_thresholds_from_env() is None  # the defaults
    stage = GateThresholds(min_backtest_roc_auc=0.64, segment_floor_roc_auc=0.55)
    monkeypatch.setenv(GATE_THRESHOLDS_ENV, stage.model_dump_json())
    assert gate_thresholds_from_env() == stage


@pytest.mark.parametrize("text", ['{"min_roc_auc": 2}', '{"no_such_threshold": 1}', "not json"])
def test_bad_thresholds_are_an_error_that_names_the_variable(monkeypatch, text):
    monkeypatch.setenv(GATE_THRESHOLDS_ENV, text)
    with pytest.raises(ValueError, match=GATE_THRESHOLDS_ENV):
        gate_thresholds_from_env()

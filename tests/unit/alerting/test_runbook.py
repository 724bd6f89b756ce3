"""RUNBOOK.md against the alarm policy it explains."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from propensity.policy.alarms import AlarmThresholds

ROOT = Path(__file__).resolve().parents[3]


def test_runbook_quotes_the_alarm_thresholds_it_explains():
    # Given every "`field` = value" the runbook quotes from AlarmThresholds
    quoted = re.findall(r"`([a-z0-9_]+)` = ([0-9.]+|true|false)", (ROOT / "RUNBOOK.md").read_text())
    defaults = AlarmThresholds()

    # Then each is the policy's default (the runbook cannot drift from the alarms)
    assert len(quoted) > 20
    for field, value in quoted:
        actual = getattr(defaults, field)
        if isinstance(actual, bool):
            assert str(actual).lower() == value, field
        else:
            assert float(value) == pytest.approx(actual), field

"""PSI against hand-computed values, including empty and tiny windows and unseen categories."""

from __future__ import annotations

import math

import pytest

from propensity.drift.psi import psi, shares
from propensity.drift.results import FeatureDrift, GroupDrift, PredictionDrift, judge
from propensity.policy.drift import DriftThresholds

EPS = DriftThresholds().psi_epsilon


def test_identical_distributions_have_zero_psi():
    # Given a window whose shares equal the reference's
    # When PSI is computed
    value = psi([0.25, 0.25, 0.5], [25, 25, 50], EPS)
    # Then it is zero
    assert value == pytest.approx(0.0, abs=1e-12)


def test_psi_matches_the_hand_computed_sum():
    # Given reference shares 0.25/0.25/0.5 and a window of 50/25/25 (shares 0.5/0.25/0.25)
    # When PSI is computed
    value = psi([0.25, 0.25, 0.5], [50, 25, 25], EPS)
    # Then it is (0.5-0.25)ln(0.5/0.25) + 0 + (0.25-0.5)ln(0.25/0.5) = 0.5 ln 2
    assert value == pytest.approx(0.5 * math.log(2), rel=1e-12)
    assert value == pytest.approx(0.346574, abs=1e-6)


def test_unseen_category_contributes_a_large_but_finite_term():
    # Given a categorical reference a=0.6, b=0.4 and an "unseen" bin with share 0, and a window
    # where 10% of the values are categories the reference never had
    value = psi([0.6, 0.4, 0.0], [50, 40, 10], EPS)
    # Then the unseen bin is floored at epsilon: (0.5-0.6)ln(0.5/0.6) + 0 + (0.1-1e-4)ln(0.1/1e-4)
    expected = (0.5 - 0.6) * math.log(0.5 / 0.6) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert value == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(0.708317, abs=1e-6)
    assert math.isfinite(value)


def test_empty_window_has_no_psi():
    # Given a window without events
    # When PSI is computed
    # Then there is no value (not zero, not infinity)
    assert psi([0.5, 0.5], [0, 0], EPS) is None
    assert shares([0, 0]) == [0.0, 0.0]


def test_tiny_window_gets_a_huge_psi_which_is_why_it_is_not_judged():
    # Given one event: all of it in the first of two equally likely bins
    value = psi([0.5, 0.5], [1, 0], EPS)
    # Then PSI = (1-0.5)ln(2) + (1e-4-0.5)ln(1e-4/0.5), about 4.6: pure sampling noise
    expected = 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert value == pytest.approx(expected, rel=1e-12)
    assert value > 4

    # And the small-count policy reports it without judging it
    group = GroupDrift(
        api_version="v1",
        model_version="v1-x",
        events=1,
        has_reference=True,
        features=[
            FeatureDrift(
                name="contact", kind="categorical", labels=["a", "b"], reference=[0.5, 0.5], counts=[1, 0]
            )
        ],
        prediction=PredictionDrift(events=1, yes=1, reference_yes_rate=0.1),
    )
    judged = judge(group, DriftThresholds())
    assert judged.features[0].psi == pytest.approx(expected)
    assert not judged.judged
    assert judged.features[0].status == "not_judged"
    assert judged.alerts == []
    assert "fewer than 200" in judged.note


def test_bins_must_line_up():
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [1, 2, 3], EPS)

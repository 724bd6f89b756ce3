"""Sample size and MDE against the textbook formulas."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from propensity.experiments import power


def test_sample_size_matches_the_two_proportion_formula():
    # Two-sided 5%, 80% power, base 10%, detect +2 points: n = (z_.975 + z_.8)^2 * 2 p(1-p) / d^2 per arm
    p, d = 0.10, 0.02
    textbook = (norm.ppf(0.975) + norm.ppf(0.8)) ** 2 * 2 * p * (1 - p) / d**2
    assert power.sample_size_per_arm(math.sqrt(p * (1 - p)), d, 0.05, 0.8) == pytest.approx(
        textbook, rel=1e-9
    )
    assert textbook == pytest.approx(3532, abs=1)  # Lehr's rule of thumb 16 p(1-p)/d^2 gives 3600


def test_mde_and_sample_size_are_inverse():
    sd = 0.3
    n = power.sample_size_per_arm(sd, 0.01, 0.05, 0.9)
    assert power.mde_fixed_horizon(sd, n, n, 0.05, 0.9) == pytest.approx(0.01, rel=1e-9)


def test_the_mde_has_the_power_it_claims():
    # At the MDE, a two-sided z-test rejects with the stated power (upper tail dominates).
    sd, n_a, n_b = 1.0, 800, 200
    se = sd * math.sqrt(1 / n_a + 1 / n_b)
    mde = power.mde_fixed_horizon(sd, n_a, n_b, 0.05, 0.8)
    assert 1 - norm.cdf(norm.ppf(0.975) - mde / se) == pytest.approx(0.8, abs=1e-6)


def test_the_sequential_mde_is_larger_than_the_fixed_horizon_one():
    design = power.design(
        primary_metric="conversion",
        planned_customers=20_000,
        challenger_share=0.5,
        alpha=0.05,
        power=0.8,
        base_conversion=0.3,
        base_call_rate=0.2,
        base_source="test",
        cost_per_call_eur=5,
        value_per_subscription_eur=120,
    )
    assert design.planned_units_champion == pytest.approx(2000)
    assert design.unit_sd == pytest.approx(math.sqrt(0.3 * 0.7))
    assert design.mde_fixed_horizon < design.mde_sequential < 2 * design.mde_fixed_horizon


def test_net_return_sd_matches_the_three_point_distribution():
    conversion, call_rate, cost, value = 0.3, 0.2, 5.0, 120.0
    outcomes = [
        (value - cost, call_rate * conversion),
        (-cost, call_rate * (1 - conversion)),
        (0.0, 1 - call_rate),
    ]
    mean = sum(v * w for v, w in outcomes)
    sd = math.sqrt(sum(w * (v - mean) ** 2 for v, w in outcomes))
    assert power.net_return_sd(conversion, call_rate, cost, value) == pytest.approx(sd)


def test_a_plan_too_small_for_any_unit_is_refused():
    with pytest.raises(ValueError, match="plan more customers"):
        power.design(
            primary_metric="conversion",
            planned_customers=5,
            challenger_share=0.1,
            alpha=0.05,
            power=0.8,
            base_conversion=0.3,
            base_call_rate=0.2,
            base_source="test",
            cost_per_call_eur=5,
            value_per_subscription_eur=120,
        )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("challenger_share", 1.5, "share"),
        ("challenger_share", 0.0, "share"),
        ("alpha", 0.0, "alpha"),
        ("power", 1.0, "power"),
        ("base_conversion", 0.0, "base conversion"),
        ("base_call_rate", -0.1, "call rate"),
        ("planned_customers", 0, "planned sample"),
    ],
)
def test_bad_design_inputs_get_a_clear_error(field, value, message):
    arguments = {
        "primary_metric": "net_return",
        "planned_customers": 1000,
        "challenger_share": 0.5,
        "alpha": 0.05,
        "power": 0.8,
        "base_conversion": 0.3,
        "base_call_rate": 0.2,
        "base_source": "test",
        "cost_per_call_eur": 5,
        "value_per_subscription_eur": 120,
        field: value,
    }
    with pytest.raises(ValueError, match=message):
        power.design(**arguments)

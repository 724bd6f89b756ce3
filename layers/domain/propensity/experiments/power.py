"""Sample size and power, fixed before an experiment starts.

The primary metric is a mean over units (labelled customers for ``net_return``, calls for
``conversion``), compared between two independent arms of sizes ``n_a`` and ``n_b``. Under
the champion's base rates the per-unit standard deviation is ``sd``, so the difference of the
arm means has standard error ``se = sd * sqrt(1/n_a + 1/n_b)``.

- Fixed horizon, two-sided level ``alpha``, power ``1 - beta``: the textbook
  ``MDE = (z_{1-alpha/2} + z_{1-beta}) * se`` (for proportions with ``sd^2 = p(1-p)`` and equal
  arms this is the usual ``n = (z_{1-alpha/2} + z_{1-beta})^2 * 2p(1-p) / delta^2`` per arm).
- mSPRT (``propensity.experiments.sequential``) read only at the horizon: it rejects when
  ``|estimate| >= boundary(se^2)``, so ``MDE = boundary + z_{1-beta} * se``. This is
  conservative (the sequential test can also stop earlier), and it is the price of being
  allowed to look every day.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from propensity.experiments.models import PrimaryMetric, TestDesign
from propensity.experiments.sequential import rejection_boundary

_NORMAL = NormalDist()


def z(quantile: float) -> float:
    return _NORMAL.inv_cdf(quantile)


def standard_error(sd: float, n_a: float, n_b: float) -> float:
    return sd * math.sqrt(1.0 / n_a + 1.0 / n_b)


def mde_fixed_horizon(sd: float, n_a: float, n_b: float, alpha: float, power: float) -> float:
    """Smallest absolute difference a two-sided z-test detects with ``power`` at level ``alpha``."""
    return (z(1 - alpha / 2) + z(power)) * standard_error(sd, n_a, n_b)


def sample_size_per_arm(sd: float, mde: float, alpha: float, power: float) -> float:
    """Units per arm (equal arms) for a two-sided z-test to detect ``mde`` (the textbook formula)."""
    return 2.0 * ((z(1 - alpha / 2) + z(power)) * sd / mde) ** 2


def mde_sequential(sd: float, n_a: float, n_b: float, alpha: float, power: float, mixing_sd: float) -> float:
    """Smallest difference the mSPRT detects with ``power`` when read at the horizon."""
    se = standard_error(sd, n_a, n_b)
    return rejection_boundary(se**2, mixing_sd, alpha) + z(power) * se


def net_return_sd(conversion: float, call_rate: float, cost: float, value: float) -> float:
    """Per-customer SD of the net return: -cost for a call that fails, value-cost for one that
    converts, 0 for a customer not called."""
    mean = call_rate * (conversion * value - cost)
    second = call_rate * (conversion * (value - cost) ** 2 + (1 - conversion) * cost**2)
    return math.sqrt(max(second - mean**2, 1e-12))


def design(
    *,
    primary_metric: PrimaryMetric,
    planned_customers: int,
    challenger_share: float,
    alpha: float,
    power: float,
    base_conversion: float,
    base_call_rate: float,
    base_source: str,
    cost_per_call_eur: float,
    value_per_subscription_eur: float,
) -> TestDesign:
    """The test design for the planned traffic and base rates (assuming every outcome arrives)."""
    checks = {
        "the challenger's share (--share)": 0 < challenger_share < 1,
        "alpha (--alpha)": 0 < alpha < 0.5,
        "power (--power)": 0 < power < 1,
        "the base conversion (--base-conversion)": 0 < base_conversion < 1,
        "the base call rate (--base-call-rate)": 0 < base_call_rate <= 1,
    }
    wrong = [name for name, ok in checks.items() if not ok]
    if wrong:
        raise ValueError(f"out of range: {', '.join(wrong)} (shares and rates lie strictly between 0 and 1)")
    if planned_customers < 1:
        raise ValueError("the planned sample (--planned-customers) must be at least 1 customer")
    customers_a = planned_customers * (1 - challenger_share)
    customers_b = planned_customers * challenger_share
    if primary_metric == "conversion":
        sd = math.sqrt(base_conversion * (1 - base_conversion))
        n_a, n_b = customers_a * base_call_rate, customers_b * base_call_rate
    else:
        sd = net_return_sd(base_conversion, base_call_rate, cost_per_call_eur, value_per_subscription_eur)
        n_a, n_b = customers_a, customers_b
    if min(n_a, n_b) < 1:
        raise ValueError(
            f"the planned sample gives {n_a:.1f} / {n_b:.1f} units per arm: "
            "plan more customers or a larger share"
        )
    fixed = mde_fixed_horizon(sd, n_a, n_b, alpha, power)
    return TestDesign(
        primary_metric=primary_metric,
        alpha=alpha,
        power=power,
        base_conversion=base_conversion,
        base_call_rate=base_call_rate,
        base_source=base_source,
        cost_per_call_eur=cost_per_call_eur,
        value_per_subscription_eur=value_per_subscription_eur,
        unit_sd=sd,
        planned_units_champion=n_a,
        planned_units_challenger=n_b,
        mde_fixed_horizon=fixed,
        mde_sequential=mde_sequential(sd, n_a, n_b, alpha, power, mixing_sd=fixed),
        mixing_sd=fixed,
    )

"""The peeking guard by simulation: a null experiment read every day rejects at most alpha-ish."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from propensity.experiments.power import mde_fixed_horizon, mde_sequential
from propensity.experiments.sequential import look, rejection_boundary

ALPHA = 0.05
DAYS = 30
PER_DAY = (60, 40)  # units per day in champion / challenger (a 40% challenger share)
BASE = 0.25


def _trajectories(effect: float, simulations: int, seed: int) -> tuple[np.ndarray, ...]:
    """Daily cumulative counts of successes per arm for Bernoulli units."""
    rng = np.random.default_rng(seed)
    a = rng.binomial(PER_DAY[0], BASE, size=(simulations, DAYS)).cumsum(axis=1)
    b = rng.binomial(PER_DAY[1], BASE + effect, size=(simulations, DAYS)).cumsum(axis=1)
    n_a = PER_DAY[0] * np.arange(1, DAYS + 1)
    n_b = PER_DAY[1] * np.arange(1, DAYS + 1)
    return a, b, n_a, n_b


def _msprt_rejects(a, b, n_a, n_b, tau: float) -> np.ndarray:
    rejected = np.zeros(a.shape[0], dtype=bool)
    for s in range(a.shape[0]):
        p = 1.0
        for day in range(DAYS):
            ma, mb = a[s, day] / n_a[day], b[s, day] / n_b[day]
            result = look(
                int(n_a[day]),
                ma,
                ma * (1 - ma) / n_a[day],
                int(n_b[day]),
                mb,
                mb * (1 - mb) / n_b[day],
                tau,
                ALPHA,
                p,
            )
            p = result.p_value
            if result.rejected:
                rejected[s] = True
                break
    return rejected


def _tau() -> float:
    sd = math.sqrt(BASE * (1 - BASE))
    return mde_fixed_horizon(sd, PER_DAY[0] * DAYS, PER_DAY[1] * DAYS, ALPHA, 0.8)


def test_a_null_experiment_peeked_at_daily_rejects_at_most_alpha():
    a, b, n_a, n_b = _trajectories(0.0, 2000, seed=17)
    rate = _msprt_rejects(a, b, n_a, n_b, _tau()).mean()
    # Ville's inequality bounds it by alpha; the plug-in variance adds a little. 2000 runs: sd 0.005.
    assert rate <= ALPHA + 0.015, rate


def test_a_fixed_horizon_test_peeked_at_daily_rejects_far_more_often():
    # The reason for the guard: the same null runs, read with a plain z-test every day.
    a, b, n_a, n_b = _trajectories(0.0, 2000, seed=17)
    ma, mb = a / n_a, b / n_b
    pooled = (a + b) / (n_a + n_b)
    z = (mb - ma) / np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    peeked = (np.abs(z) > norm.ppf(1 - ALPHA / 2)).any(axis=1).mean()
    at_horizon = (np.abs(z[:, -1]) > norm.ppf(1 - ALPHA / 2)).mean()
    assert abs(at_horizon - ALPHA) < 0.015  # read once, it is fine
    assert peeked > 2.5 * ALPHA, peeked  # read daily, it is not


def test_at_the_sequential_mde_the_test_has_its_power_by_the_horizon():
    sd = math.sqrt(BASE * (1 - BASE))
    effect = mde_sequential(sd, PER_DAY[0] * DAYS, PER_DAY[1] * DAYS, ALPHA, 0.8, _tau())
    a, b, n_a, n_b = _trajectories(effect, 600, seed=5)
    power = _msprt_rejects(a, b, n_a, n_b, _tau()).mean()
    assert power >= 0.76, power  # conservative by design: it may also stop before the horizon


def test_the_always_valid_interval_is_the_non_rejection_region():
    variance, tau = 0.0004, 0.03
    half = rejection_boundary(variance, tau, ALPHA)
    at_edge = look(100, 0.0, variance / 2, 100, half, variance / 2, tau, ALPHA)
    assert math.isclose(at_edge.p_value, ALPHA, rel_tol=1e-6)
    inside = look(100, 0.0, variance / 2, 100, 0.99 * half, variance / 2, tau, ALPHA)
    assert not inside.rejected and inside.ci_low < 0 < inside.ci_high
    # Once rejected, the always-valid p-value never goes back up.
    later = look(200, 0.0, variance / 4, 200, 0.0, variance / 4, tau, ALPHA, previous_p=at_edge.p_value)
    assert later.p_value <= at_edge.p_value

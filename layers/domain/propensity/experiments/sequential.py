"""The peeking guard: a mixture sequential probability ratio test (mSPRT), always valid.

Outcomes arrive for weeks and the experiment is looked at every day (``experiment status``,
the monitoring page). A fixed-horizon test read at every look rejects a true null far more
often than its level (the simulation in the tests measures it); the mSPRT does not, at any
number of looks, so a look can never be "peeking".

The statistic (Johari, Koomen, Pekelis, Walsh, "Always valid inference", 2017/2022): the
difference of the arm means ``d`` with variance ``v = s_a^2/n_a + s_b^2/n_b`` is, to a normal
approximation, ``N(theta, v)``. Mixing the alternative over ``theta ~ N(0, tau^2)`` gives the
likelihood ratio against ``theta = 0``

    L = sqrt(v / (v + tau^2)) * exp(d^2 tau^2 / (2 v (v + tau^2)))

which is a martingale under the null, so by Ville's inequality ``P(sup L >= 1/alpha) <= alpha``.
The always-valid p-value is the running minimum of ``1/L``; the always-valid confidence
interval is ``d +- boundary(v)`` (the ``theta`` for which the test would not reject).

``tau`` is set to the planned fixed-horizon MDE: the mixture then puts its weight on the
effects the experiment was sized to find. Why not a fixed horizon: it is the most powerful at
the planned sample, but only if nobody acts on an interim look, and with daily reports and a
dashboard someone will. The cost of the guard is a larger MDE at the same sample
(``propensity.experiments.power``), stated at the start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def log_likelihood_ratio(difference: float, variance: float, mixing_sd: float) -> float:
    """``log L`` of the normal-mixture SPRT (0 when there is no information yet)."""
    if variance <= 0 or not math.isfinite(variance):
        return 0.0
    t2 = mixing_sd**2
    return 0.5 * math.log(variance / (variance + t2)) + difference**2 * t2 / (2 * variance * (variance + t2))


def rejection_boundary(variance: float, mixing_sd: float, alpha: float) -> float:
    """``|difference|`` at which ``L`` reaches ``1/alpha``: the half-width of the always-valid CI."""
    t2 = mixing_sd**2
    spread = 2 * math.log(1 / alpha) + math.log((variance + t2) / variance)
    return math.sqrt(variance * (variance + t2) / t2 * spread)


@dataclass(frozen=True)
class Look:
    """The test at one look."""

    n_champion: int
    n_challenger: int
    difference: float  # challenger minus champion
    variance: float
    log_lr: float
    p_value: float  # always valid: the running minimum of 1/L up to this look
    ci_low: float
    ci_high: float
    rejected: bool


def look(
    n_a: int,
    estimate_a: float,
    variance_a: float,
    n_b: int,
    estimate_b: float,
    variance_b: float,
    mixing_sd: float,
    alpha: float,
    previous_p: float = 1.0,
) -> Look:
    """The mSPRT at one look, from each arm's unit count, estimate and the estimate's variance."""
    if n_a < 2 or n_b < 2:
        return Look(n_a, n_b, math.nan, math.inf, 0.0, previous_p, -math.inf, math.inf, previous_p <= alpha)
    variance = max(variance_a + variance_b, 1e-18)
    difference = estimate_b - estimate_a
    log_lr = log_likelihood_ratio(difference, variance, mixing_sd)
    p_value = min(previous_p, math.exp(-log_lr) if log_lr > 0 else 1.0)
    half = rejection_boundary(variance, mixing_sd, alpha)
    return Look(
        n_a,
        n_b,
        difference,
        variance,
        log_lr,
        p_value,
        difference - half,
        difference + half,
        p_value <= alpha,
    )

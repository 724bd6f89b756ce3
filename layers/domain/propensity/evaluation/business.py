"""Business figures of a set of served decisions with known outcomes.

The campaign calls every customer predicted "yes": each call costs ``cost_per_call_eur``,
each subscription is worth ``value_per_subscription_eur`` (EvaluationThresholds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.evaluation.models import BusinessFigures
from propensity.monitoring.metrics import confusion
from propensity.policy.evaluation import EvaluationThresholds


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def business_figures(
    y: npt.NDArray[Any], decision: npt.NDArray[Any], thresholds: EvaluationThresholds
) -> BusinessFigures:
    """Conversion of "yes" predictions, unexpected subscribers among "no", campaign return."""
    return business_from_counts(*confusion(y, decision), thresholds)


def business_from_counts(
    tp: int, fp: int, fn: int, tn: int, thresholds: EvaluationThresholds
) -> BusinessFigures:
    """The same figures from the confusion counts at the served decisions (what the engine counts)."""
    calls = tp + fp
    cost = calls * thresholds.cost_per_call_eur
    value = tp * thresholds.value_per_subscription_eur
    everyone = (tp + fn) * thresholds.value_per_subscription_eur - (
        tp + fp + fn + tn
    ) * thresholds.cost_per_call_eur
    return BusinessFigures(
        yes_predictions=calls,
        no_predictions=fn + tn,
        subscriptions_from_calls=tp,
        unexpected_subscribers=fn,
        conversion_rate=_share(tp, calls),
        unexpected_subscriber_rate=_share(fn, fn + tn),
        cost_eur=cost,
        value_eur=value,
        net_return_eur=value - cost,
        return_on_cost=_share(value - cost, cost),
        call_everyone_net_return_eur=float(everyone),
    )


def expected_net_return(expected_tp: float, expected_fp: float, thresholds: EvaluationThresholds) -> float:
    """Campaign return implied by an expected confusion matrix (CBPE)."""
    return float(
        expected_tp * thresholds.value_per_subscription_eur
        - (expected_tp + expected_fp) * thresholds.cost_per_call_eur
    )


def as_bool(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    return np.asarray(values).astype(bool)

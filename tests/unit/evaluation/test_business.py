"""Business figures on hand-made cases, and the rates against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_score

from propensity.evaluation.business import business_figures
from propensity.policy.evaluation import EvaluationThresholds

THRESHOLDS = EvaluationThresholds(cost_per_call_eur=5.0, value_per_subscription_eur=120.0)


def test_campaign_figures_on_a_hand_made_case():
    # Given 4 "yes" predictions (1 subscribed) and 6 "no" predictions (2 subscribed anyway)
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    d = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    # When the business figures are computed
    b = business_figures(y, d, THRESHOLDS)
    # Then conversion is 1/4, unexpected subscribers 2/6, and the return is 120 - 4 * 5
    assert (b.yes_predictions, b.no_predictions) == (4, 6)
    assert (b.subscriptions_from_calls, b.unexpected_subscribers) == (1, 2)
    assert b.conversion_rate == pytest.approx(0.25)
    assert b.unexpected_subscriber_rate == pytest.approx(2 / 6)
    assert (b.cost_eur, b.value_eur, b.net_return_eur) == (20.0, 120.0, 100.0)
    assert b.return_on_cost == pytest.approx(5.0)
    # And calling all 10 customers would have returned 3 * 120 - 10 * 5
    assert b.call_everyone_net_return_eur == 310.0


def test_rates_match_scikit_learn_precision_of_each_class():
    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.15
    d = rng.random(2000) < 0.3
    b = business_figures(y, d, THRESHOLDS)
    assert b.conversion_rate == pytest.approx(precision_score(y, d))
    # unexpected subscribers among "no" = 1 - precision of the "no" class
    assert b.unexpected_subscriber_rate == pytest.approx(1 - precision_score(~y, ~d))


def test_no_calls_means_no_conversion_rather_than_zero():
    b = business_figures(np.array([1, 0]), np.array([False, False]), THRESHOLDS)
    assert b.conversion_rate is None and b.return_on_cost is None and b.net_return_eur == 0.0
    assert b.unexpected_subscriber_rate == 0.5

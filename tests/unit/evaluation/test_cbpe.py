"""CBPE against scikit-learn: the expected confusion matrix is the weighted, duplicated data set."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score

from propensity.evaluation.cbpe import assess_trust, estimate, weighted_roc_auc
from propensity.policy.evaluation import EvaluationThresholds

THRESHOLDS = EvaluationThresholds()


def duplicated(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row once as a subscriber (weight p) and once as not (weight 1 - p)."""
    y = np.r_[np.ones(p.size), np.zeros(p.size)]
    scores = np.r_[p, p]
    weights = np.r_[p, 1.0 - p]
    return y, scores, weights


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimates_equal_scikit_learn_on_the_weighted_duplicated_data(seed):
    # Given calibrated-looking probabilities (with ties) and decisions at a served threshold
    rng = np.random.default_rng(seed)
    p = np.round(rng.beta(0.6, 4.0, size=3000), 3)
    threshold = 0.2
    decision = p >= threshold
    # When CBPE estimates the figures
    est = estimate(p, decision, THRESHOLDS)
    # Then they equal scikit-learn's metrics on the duplicated, weighted rows
    y, scores, w = duplicated(p)
    d = np.r_[decision, decision]
    assert est.precision == pytest.approx(precision_score(y, d, sample_weight=w), abs=1e-12)
    assert est.recall == pytest.approx(recall_score(y, d, sample_weight=w), abs=1e-12)
    assert est.f1 == pytest.approx(f1_score(y, d, sample_weight=w), abs=1e-12)
    assert est.roc_auc == pytest.approx(roc_auc_score(y, scores, sample_weight=w), abs=1e-9)
    assert est.brier == pytest.approx(brier_score_loss(y, scores, sample_weight=w), abs=1e-12)
    assert est.expected_positives == pytest.approx(p.sum())
    assert est.rows == 3000


def test_weighted_roc_auc_equals_scikit_learn_with_arbitrary_scores_and_weights():
    # Given scores with ties and arbitrary positive/negative weights
    rng = np.random.default_rng(7)
    s = rng.integers(0, 20, size=500).astype(float)
    wp, wn = rng.random(500), rng.random(500)
    # When the weighted AUC is computed
    auc = weighted_roc_auc(s, wp, wn)
    # Then it matches scikit-learn on the duplicated data
    y = np.r_[np.ones(500), np.zeros(500)]
    assert auc == pytest.approx(roc_auc_score(y, np.r_[s, s], sample_weight=np.r_[wp, wn]), abs=1e-12)


def test_hand_computed_expected_confusion_and_return():
    # Given two "yes" rows (0.8, 0.6) and two "no" rows (0.1, 0.3)
    p = np.array([0.8, 0.6, 0.1, 0.3])
    d = np.array([True, True, False, False])
    # When estimated
    est = estimate(p, d, EvaluationThresholds(cost_per_call_eur=10, value_per_subscription_eur=100))
    # Then E[TP]=1.4, E[FP]=0.6, E[FN]=0.4, E[TN]=1.6 and the return is 1.4*100 - 2*10
    assert (est.expected_tp, est.expected_fp, est.expected_fn, est.expected_tn) == pytest.approx(
        (1.4, 0.6, 0.4, 1.6)
    )
    assert est.precision == pytest.approx(0.7)
    assert est.recall == pytest.approx(1.4 / 1.8)
    assert est.unexpected_subscriber_rate == pytest.approx(0.2)
    assert est.net_return_eur == pytest.approx(120.0)


def test_no_yes_decisions_gives_no_precision_rather_than_a_made_up_one():
    est = estimate(np.array([0.1, 0.2]), np.array([False, False]), THRESHOLDS)
    assert est.precision is None and est.f1 == 0.0 and est.recall == 0.0


def test_trust_verdicts():
    base = estimate(np.full(1000, 0.1), np.zeros(1000, bool), THRESHOLDS)
    # Given calibration checked on enough outcomes and within the bound: trusted
    ok = assess_trust(
        base,
        labelled=800,
        labelled_ece=0.01,
        labelled_base_rate=0.11,
        labelled_mean_probability=0.10,
        manifest_ece=0.01,
        thresholds=THRESHOLDS,
    )
    assert ok.trust == "trusted"
    # Given outcomes that show the probabilities are off: untrusted, and the caveat says why
    drift = assess_trust(
        base,
        labelled=800,
        labelled_ece=0.15,
        labelled_base_rate=0.25,
        labelled_mean_probability=0.10,
        manifest_ece=0.01,
        thresholds=THRESHOLDS,
    )
    assert drift.trust == "untrusted"
    assert "concept drift" in drift.caveats[0] and "gap +15.0%" in drift.caveats[0]
    # Given too few outcomes: unverified, unless an earlier window already showed drift
    few = assess_trust(
        base,
        labelled=10,
        labelled_ece=0.3,
        labelled_base_rate=0.3,
        labelled_mean_probability=0.1,
        manifest_ece=0.012,
        thresholds=THRESHOLDS,
    )
    assert few.trust == "unverified" and "ECE 0.012 on the training holdout" in few.caveats[0]
    inherited = assess_trust(
        base,
        labelled=10,
        labelled_ece=None,
        labelled_base_rate=None,
        labelled_mean_probability=None,
        manifest_ece=0.01,
        thresholds=THRESHOLDS,
        inherited="calibration was off on 2026-03-02",
    )
    assert inherited.trust == "untrusted" and inherited.caveats == ["calibration was off on 2026-03-02"]


def test_a_wide_significant_gap_is_distrusted_even_with_a_small_ece():
    base = estimate(np.full(3000, 0.05), np.zeros(3000, bool), THRESHOLDS)
    # Given 1700 outcomes at 9.2% against a mean probability of 5.1% (ECE under the bound)
    wide = assess_trust(
        base,
        labelled=1700,
        labelled_ece=0.042,
        labelled_base_rate=0.092,
        labelled_mean_probability=0.051,
        manifest_ece=0.003,
        thresholds=THRESHOLDS,
    )
    # Then the estimate is distrusted: the gap is 80% relative and ~8 standard errors wide
    assert wide.trust == "untrusted" and "80% relative" in wide.caveats[0]
    # Given the same relative gap on only 200 outcomes (within 3 standard errors): not distrusted
    noisy = assess_trust(
        base,
        labelled=200,
        labelled_ece=0.025,
        labelled_base_rate=0.075,
        labelled_mean_probability=0.05,
        manifest_ece=0.003,
        thresholds=THRESHOLDS,
    )
    assert noisy.trust == "trusted"

"""Confidence-based performance estimation (CBPE), before any outcome is known.

If the served probabilities are calibrated on the population being scored, each row is a
subscriber with probability ``p``. The expected confusion matrix at the served decisions is
then ``E[TP] = sum p`` over "yes" decisions, ``E[FP] = sum (1 - p)`` over "yes", ``E[FN] =
sum p`` over "no" and ``E[TN] = sum (1 - p)`` over "no", and the estimated precision, recall
and F1 are ratios of these expectations (as in NannyML's CBPE). Equivalently, they are the
metrics of a data set in which every row appears twice, once as a subscriber with weight
``p`` and once as a non-subscriber with weight ``1 - p``: the tests check exactly that
against scikit-learn with sample weights. The estimated ROC AUC uses the same weighted data.

The estimate stands on one assumption: that P(subscribe | probability) has not changed since
the model was calibrated. Covariate shift alone leaves it valid; concept drift or a change in
the base rate (prior shift) breaks it without any sign in the inputs. ``assess_trust`` checks
the assumption wherever outcomes exist and says where the estimate cannot be trusted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.evaluation.business import expected_net_return
from propensity.evaluation.models import CbpeEstimate
from propensity.policy.evaluation import EvaluationThresholds


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator > 0 else None


def weighted_roc_auc(
    scores: npt.NDArray[Any], positive_weight: npt.NDArray[Any], negative_weight: npt.NDArray[Any]
) -> float | None:
    """ROC AUC of weighted positives against weighted negatives; ties count one half.

    Equals scikit-learn's ``roc_auc_score`` on the duplicated, weighted data set.
    """
    s = np.asarray(scores, dtype=np.float64)
    w_pos = np.asarray(positive_weight, dtype=np.float64)
    w_neg = np.asarray(negative_weight, dtype=np.float64)
    total_pos, total_neg = float(w_pos.sum()), float(w_neg.sum())
    if total_pos <= 0 or total_neg <= 0:
        return None
    distinct, group = np.unique(s, return_inverse=True)
    pos_per_score = np.bincount(group, weights=w_pos, minlength=distinct.size)
    neg_per_score = np.bincount(group, weights=w_neg, minlength=distinct.size)
    neg_below = np.cumsum(neg_per_score) - neg_per_score
    wins = float(np.sum(pos_per_score * (neg_below + 0.5 * neg_per_score)))
    return wins / (total_pos * total_neg)


def estimate(
    probability: npt.NDArray[Any], decision: npt.NDArray[Any], thresholds: EvaluationThresholds
) -> CbpeEstimate:
    """The expected confusion matrix and the figures derived from it (trust not yet assessed)."""
    p = np.asarray(probability, dtype=np.float64)
    d = np.asarray(decision).astype(bool)
    return estimate_from_sums(
        rows=int(p.size),
        tp=float(p[d].sum()),
        fp=float((1.0 - p[d]).sum()),
        fn=float(p[~d].sum()),
        tn=float((1.0 - p[~d]).sum()),
        roc_auc=weighted_roc_auc(p, p, 1.0 - p) if p.size else None,
        brier=float(np.mean(p * (1.0 - p))) if p.size else None,
        thresholds=thresholds,
    )


def estimate_from_sums(
    *,
    rows: int,
    tp: float,
    fp: float,
    fn: float,
    tn: float,
    roc_auc: float | None,
    brier: float | None,
    thresholds: EvaluationThresholds,
) -> CbpeEstimate:
    """The estimate from the expected confusion matrix (sums of p and 1 - p by served decision)."""
    precision = _ratio(tp, tp + fp)
    return CbpeEstimate(
        rows=rows,
        expected_positives=tp + fn,
        expected_tp=tp,
        expected_fp=fp,
        expected_fn=fn,
        expected_tn=tn,
        precision=precision,
        recall=_ratio(tp, tp + fn),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        roc_auc=roc_auc,
        brier=brier,
        conversion_rate=precision,
        unexpected_subscriber_rate=_ratio(fn, fn + tn),
        net_return_eur=expected_net_return(tp, fp, thresholds),
    )


def assess_trust(
    estimate_: CbpeEstimate,
    *,
    labelled: int,
    labelled_ece: float | None,
    labelled_base_rate: float | None,
    labelled_mean_probability: float | None,
    manifest_ece: float | None,
    thresholds: EvaluationThresholds,
    inherited: str | None = None,
) -> CbpeEstimate:
    """Attach the verdict on the CBPE assumption and the caveats that explain it.

    ``untrusted``: outcomes of this window (or, passed as ``inherited``, of the latest window
    with enough outcomes) show the probabilities are no longer calibrated. ``unverified``: too
    few outcomes to check. ``trusted``: checked on enough outcomes and within the bound.
    """
    caveats: list[str] = []
    if estimate_.rows < thresholds.min_labelled_rows:
        caveats.append(f"only {estimate_.rows} predictions in the window: the estimate is noisy")
    if labelled >= thresholds.min_labelled_rows and labelled_ece is not None:
        observed, predicted = labelled_base_rate or 0.0, labelled_mean_probability or 0.0
        gap = observed - predicted
        standard_error = math.sqrt(max(predicted * (1 - predicted), 1e-12) / labelled)
        relative = abs(gap) / predicted if predicted > 0 else math.inf
        gap_too_wide = (
            relative > thresholds.cbpe_max_relative_gap and abs(gap) > thresholds.cbpe_gap_z * standard_error
        )
        if labelled_ece > thresholds.cbpe_max_ece or gap_too_wide:
            caveats.append(
                f"calibration is off on the {labelled} labelled rows (ECE {labelled_ece:.3f}; observed "
                f"subscription rate {observed:.1%} vs mean probability {predicted:.1%}, gap {gap:+.1%}, "
                f"{relative:.0%} relative): concept drift or a change in the base rate; CBPE assumes "
                "P(subscribe | score) is unchanged and cannot be trusted here"
            )
            trust = "untrusted"
        else:
            trust = "trusted"
            caveats.append(
                f"calibration checked on {labelled} labelled rows (ECE {labelled_ece:.3f}, observed "
                f"{observed:.1%} vs predicted {predicted:.1%})"
            )
    elif inherited is not None:
        trust = "untrusted"
        caveats.append(inherited)
    else:
        trust = "unverified"
        reference = f" (ECE {manifest_ece:.3f} on the training holdout)" if manifest_ece is not None else ""
        caveats.append(
            f"{labelled} labelled rows are too few to check calibration: the estimate assumes the "
            f"model is as calibrated as at training{reference}; concept drift would go unseen"
        )
    return estimate_.model_copy(update={"trust": trust, "caveats": caveats})

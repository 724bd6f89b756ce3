"""Classification metrics in numpy, matching scikit-learn's definitions.

Implemented here, not imported, because the evaluation and gate code also run in Lambda
functions that do not ship scikit-learn. Tests compare every function with scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

Array = npt.NDArray[Any]
ECE_BINS = 10


def _as_arrays(y: Array, p: Array) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    return np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)


def roc_auc(y: Array, p: Array) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted as half). NaN if one class only."""
    y, p = _as_arrays(y, p)
    positives = y.sum()
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    ranks = np.empty(p.size, dtype=np.float64)
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def average_precision(y: Array, p: Array) -> float:
    """PR AUC as average precision (scikit-learn's step-wise definition). NaN without positives."""
    y, p = _as_arrays(y, p)
    positives = y.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-p, kind="mergesort")
    y_sorted, p_sorted = y[order], p[order]
    # Group tied scores: one point per distinct threshold.
    last_of_group = np.r_[np.diff(p_sorted) != 0, True]
    true_pos = np.cumsum(y_sorted)[last_of_group]
    predicted = (np.arange(1, y.size + 1))[last_of_group]
    precision = true_pos / predicted
    recall = true_pos / positives
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


def confusion(y: Array, decision: Array) -> tuple[int, int, int, int]:
    """(true positives, false positives, false negatives, true negatives)."""
    y_b = np.asarray(y).astype(bool)
    d_b = np.asarray(decision).astype(bool)
    return (
        int(np.sum(y_b & d_b)),
        int(np.sum(~y_b & d_b)),
        int(np.sum(y_b & ~d_b)),
        int(np.sum(~y_b & ~d_b)),
    )


def precision_recall_f1(y: Array, decision: Array) -> tuple[float, float, float]:
    """Precision, recall and F1 of the "yes" class; 0.0 where undefined (as scikit-learn)."""
    tp, fp, fn, _ = confusion(y, decision)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return precision, recall, f1


def brier(y: Array, p: Array) -> float:
    """Mean squared error of the probability."""
    y, p = _as_arrays(y, p)
    return float(np.mean((p - y) ** 2)) if y.size else float("nan")


class ReliabilityBin(BaseModel):
    """One row of a reliability table (equal-width probability bins)."""

    lower: float
    upper: float
    count: int
    mean_probability: float | None
    observed_rate: float | None


def reliability_table(y: Array, p: Array, bins: int = ECE_BINS) -> list[ReliabilityBin]:
    """Predicted versus observed rate per equal-width bin; the last bin includes 1.0."""
    y, p = _as_arrays(y, p)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    table = []
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        table.append(
            ReliabilityBin(
                lower=float(edges[b]),
                upper=float(edges[b + 1]),
                count=n,
                mean_probability=float(p[mask].mean()) if n else None,
                observed_rate=float(y[mask].mean()) if n else None,
            )
        )
    return table


def expected_calibration_error(y: Array, p: Array, bins: int = ECE_BINS) -> float:
    """Count-weighted mean |observed rate - mean probability| over equal-width bins."""
    table = reliability_table(y, p, bins)
    total = sum(b.count for b in table)
    if total == 0:
        return float("nan")
    return float(
        sum(b.count * abs((b.observed_rate or 0.0) - (b.mean_probability or 0.0)) for b in table if b.count)
        / total
    )


class ClassificationMetrics(BaseModel):
    """The figures reported for a model on a set of labelled rows."""

    n: int
    positives: int
    base_rate: float
    roc_auc: float | None
    pr_auc: float | None
    precision: float
    recall: float
    f1: float
    brier: float
    ece: float
    yes_rate: float
    mean_probability: float


def _finite_or_none(value: float) -> float | None:
    return None if np.isnan(value) else value


def classification_metrics(y: Array, p: Array, threshold: float) -> ClassificationMetrics:
    """All figures at once; AUCs are ``None`` when a class is absent (tiny segments)."""
    y, p = _as_arrays(y, p)
    decision = p >= threshold
    precision, recall, f1 = precision_recall_f1(y, decision)
    return ClassificationMetrics(
        n=int(y.size),
        positives=int(y.sum()),
        base_rate=float(y.mean()) if y.size else 0.0,
        roc_auc=_finite_or_none(roc_auc(y, p)),
        pr_auc=_finite_or_none(average_precision(y, p)),
        precision=precision,
        recall=recall,
        f1=f1,
        brier=brier(y, p),
        ece=expected_calibration_error(y, p),
        yes_rate=float(decision.mean()) if y.size else 0.0,
        mean_probability=float(p.mean()) if y.size else 0.0,
    )

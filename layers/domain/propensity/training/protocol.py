"""The training protocol shared by ``train`` and the backtest: one function, one config.

Given the training rows (features, outcomes, calendar months) and a ``TrainingConfig``:
  1. keep the configured window (the last N months or rows);
  2. hold the excluded inputs' model columns constant, so no tree can use them;
  3. k-fold out-of-fold raw scores -> Platt calibration; with ``platt_recent_intercept`` the
     intercept is then refitted (slope fixed) on the out-of-fold scores of the latest months,
     because the yes rate of this data drifts month to month and the latest labelled month is
     the best estimate of the next one;
  4. the decision threshold maximising F1 on those out-of-fold calibrated probabilities;
  5. the final trees on all the window's rows (recency-weighted if configured).
Nothing here sees a row outside the training rows it is given: the backtest relies on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.constants import ApiVersion
from propensity.model.calibration import PlattCalibration, fit_platt
from propensity.model.trees import TreeEnsemble, export_hist_gradient_boosting
from propensity.training.config import TrainingConfig
from propensity.training.split import SPLIT_SEED, stratified_folds

Progress = Callable[[str], None]
# The recent-intercept calibration uses the latest months holding at least this many rows
# (one month of this data late in the file has 75; a 1-parameter fit wants a few hundred).
RECENT_MIN_ROWS = 200


@dataclass(frozen=True)
class TrainedModel:
    """What training produced, before it is written as a bundle."""

    api_version: ApiVersion
    sklearn_model: Any
    ensemble: TreeEnsemble
    calibration: PlattCalibration
    threshold: float
    # With ``platt_recent_intercept``: the latest months' outcomes and out-of-fold calibrated
    # probabilities, on which the intercept and threshold were chosen. Those months, not the
    # stratified holdout (a mix of every month), are what the model is tuned to answer next,
    # so the drift reference's answers (yes rate, mean probability, scores) are measured there.
    tuned_on: tuple[npt.NDArray[np.int8], npt.NDArray[np.float64]] | None = None


def window_rows(months: npt.NDArray[np.str_], rows: npt.NDArray[np.intp], config: TrainingConfig) -> Any:
    """The subset of ``rows`` (indices in date order) inside the configured window."""
    window = config.window
    if window.rows is not None:
        return rows[-window.rows :]
    if window.months is not None:
        kept = sorted({str(m) for m in months[rows]})[-window.months :]
        return rows[np.isin(months[rows], kept)]
    return rows


def recency_weights(months: npt.NDArray[np.str_], config: TrainingConfig) -> Any:
    """``0.5 ** (age / half_life)`` per row, age in months before the latest month; or None."""
    half_life = config.weighting.half_life_months
    if half_life is None or months.size == 0:
        return None
    index = np.array([int(m[:4]) * 12 + int(m[5:7]) for m in months])
    return 0.5 ** ((index.max() - index) / half_life)


def model_matrix(x: npt.NDArray[np.float64], config: TrainingConfig) -> npt.NDArray[np.float64]:
    """``x`` with the excluded inputs' columns held at 0 (a constant column is never split on)."""
    excluded = config.excluded_columns()
    if not excluded:
        return x
    masked = x.copy()
    masked[:, excluded] = 0.0
    return masked


def hyperparameters(config: TrainingConfig, defaults: dict[str, Any]) -> dict[str, Any]:
    return {**defaults, **config.model.hyperparameters}


def fit_trees(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.int8], params: dict[str, Any], weights: Any = None
) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(random_state=0, early_stopping=False, **params)
    return model.fit(x, y, sample_weight=weights)


def best_f1_threshold(y: npt.NDArray[Any], p: npt.NDArray[np.float64]) -> float:
    """Decision threshold maximising F1 on (out-of-fold) calibrated probabilities."""
    candidates = np.round(np.arange(0.05, 0.951, 0.01), 2)
    y_b = y.astype(bool)
    scores = []
    for t in candidates:
        d = p >= t
        tp = np.sum(d & y_b)
        denominator = 2 * tp + np.sum(d & ~y_b) + np.sum(~d & y_b)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(candidates[int(np.argmax(scores))])


def refit_intercept(
    calibration: PlattCalibration, raw: npt.NDArray[np.float64], y: npt.NDArray[Any]
) -> PlattCalibration:
    """Same slope, intercept by maximum likelihood on (raw, y) (Newton's method, 1 parameter)."""
    if y.size == 0 or y.min() == y.max():
        return calibration  # one class only: the likelihood has no finite maximum
    b = calibration.intercept
    z0 = calibration.slope * raw
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(z0 + b)))
        gradient = float(np.sum(p - y))
        curvature = float(np.sum(p * (1 - p)))
        if curvature <= 0:
            break
        step = gradient / curvature
        b -= step
        if abs(step) < 1e-12:
            break
    return PlattCalibration(slope=calibration.slope, intercept=float(b))


def recent_rows(months: npt.NDArray[np.str_], minimum: int = RECENT_MIN_ROWS) -> npt.NDArray[np.intp]:
    """Positions of the latest months that together hold at least ``minimum`` rows."""
    ordered = sorted({str(m) for m in months}, reverse=True)
    kept: list[str] = []
    count = 0
    for month in ordered:
        kept.append(month)
        count += int(np.sum(months == month))
        if count >= minimum:
            break
    return np.flatnonzero(np.isin(months, kept))


def fit_protocol(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.int8],
    months: npt.NDArray[np.str_],
    config: TrainingConfig,
    defaults: dict[str, Any],
    progress: Progress,
) -> TrainedModel:
    """Steps 2-5 of the protocol on rows already cut to the window (see the module docstring)."""
    params = hyperparameters(config, defaults)
    x = model_matrix(x, config)
    weights = recency_weights(months, config)
    oof_raw = np.zeros(y.size)
    folds = stratified_folds(y, config.calibration.cv_folds, SPLIT_SEED)
    for i, fold in enumerate(folds, start=1):
        fit_rows = np.setdiff1d(np.arange(y.size), fold)
        started = time.perf_counter()
        fold_weights = None if weights is None else weights[fit_rows]
        fold_model = fit_trees(x[fit_rows], y[fit_rows], params, fold_weights)
        oof_raw[fold] = fold_model.decision_function(x[fold])
        progress(f"fold {i}/{len(folds)} fitted in {time.perf_counter() - started:.1f}s")
    calibration = fit_platt(oof_raw, y)
    chosen = np.arange(y.size)
    recent = config.calibration.method == "platt_recent_intercept"
    if recent:
        chosen = recent_rows(months)
        calibration = refit_intercept(calibration, oof_raw[chosen], y[chosen])
    p_chosen = calibration.probability(oof_raw[chosen])
    threshold = best_f1_threshold(y[chosen], p_chosen)
    started = time.perf_counter()
    final = fit_trees(x, y, params, weights)
    progress(f"final model fitted in {time.perf_counter() - started:.1f}s; threshold {threshold:.2f}")
    ensemble = export_hist_gradient_boosting(final)
    tuned_on = (y[chosen], p_chosen) if recent else None
    return TrainedModel(config.api_version, final, ensemble, calibration, threshold, tuned_on)


def method_descriptions(config: TrainingConfig) -> tuple[str, str]:
    """(threshold method, calibration method) in words, for the manifest."""
    k = config.calibration.cv_folds
    if config.calibration.method == "platt_recent_intercept":
        return (
            f"max F1 on the latest >= {RECENT_MIN_ROWS} training rows' {k}-fold out-of-fold probabilities",
            f"Platt slope on {k}-fold out-of-fold raw scores; intercept refitted on the latest "
            f">= {RECENT_MIN_ROWS} training rows (latest months)",
        )
    return (
        f"max F1 on {k}-fold out-of-fold calibrated probabilities",
        f"Platt scaling on {k}-fold out-of-fold raw scores",
    )

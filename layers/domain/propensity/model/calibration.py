"""Platt scaling on the ensemble's raw score: monotone, so ranking (ROC AUC) is untouched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.model.trees import Floats


@dataclass(frozen=True)
class PlattCalibration:
    """``p = 1 / (1 + exp(-(slope * raw + intercept)))``."""

    slope: float
    intercept: float

    def probability(self, raw: Floats) -> Floats:
        z = self.slope * raw + self.intercept
        result: Floats = 1.0 / (1.0 + np.exp(-z))
        return result


def fit_platt(raw: Floats, target: npt.NDArray[Any]) -> PlattCalibration:
    """Fit on out-of-fold raw scores (never on the holdout). Uses scikit-learn (training only)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), target)
    return PlattCalibration(slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))

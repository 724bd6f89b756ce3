"""Preprocessing + trees + calibration + threshold: what a bundle scores with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.constants import ApiVersion
from propensity.features.encoding import Columns, Matrix
from propensity.features.schemas import SPECS, TRANSFORMS
from propensity.model.calibration import PlattCalibration
from propensity.model.confidence import bands
from propensity.model.trees import Floats, TreeEnsemble


@dataclass(frozen=True)
class Scores:
    """Per-row results, aligned with the input rows."""

    probability: Floats
    decision: npt.NDArray[np.bool_]  # True = "yes"
    confidence: npt.NDArray[np.str_]


@dataclass(frozen=True)
class ScoringModel:
    """A loaded model for one API schema version."""

    schema_version: ApiVersion
    ensemble: TreeEnsemble
    calibration: PlattCalibration
    threshold: float

    def matrix(self, columns: Columns) -> Matrix:
        """The model matrix for flat records given as columns."""
        return TRANSFORMS[self.schema_version](columns)

    def probability(self, x: Matrix) -> Floats:
        """Calibrated probability of "yes" for each row of the model matrix."""
        return self.calibration.probability(self.ensemble.raw_score(x))

    def decide(self, probability: Floats) -> Scores:
        """Decision at the manifest's threshold and the confidence band."""
        return Scores(probability, probability >= self.threshold, bands(probability, self.threshold))

    def score(self, columns: Columns) -> Scores:
        """Preprocess, score and decide, for columnar flat records."""
        return self.decide(self.probability(self.matrix(columns)))

    def score_records(self, records: Sequence[Mapping[str, Any]]) -> Scores:
        """Same as ``score`` for a list of flat record dicts."""
        names = SPECS[self.schema_version].names
        return self.score({name: [r[name] for r in records] for name in names})

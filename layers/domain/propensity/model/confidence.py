"""Decision and confidence banding, shared by the API, the event and the monitors."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from propensity.constants import CONFIDENCE_HIGH_FROM, CONFIDENCE_MEDIUM_FROM
from propensity.model.trees import Floats


def margin(probability: Floats, threshold: float) -> Floats:
    """Distance from the threshold as a share of the room on that side: 0 at it, 1 at 0 or 1."""
    above = (probability - threshold) / (1.0 - threshold)
    below = (threshold - probability) / threshold
    result: Floats = np.where(probability >= threshold, above, below)
    return result


def bands(probability: Floats, threshold: float) -> npt.NDArray[np.str_]:
    """ "low" below 0.2 of margin, "medium" below 0.5, "high" from 0.5 (see constants)."""
    m = margin(probability, threshold)
    result: npt.NDArray[np.str_] = np.where(
        m >= CONFIDENCE_HIGH_FROM, "high", np.where(m >= CONFIDENCE_MEDIUM_FROM, "medium", "low")
    )
    return result

"""Golden requests: real holdout rows with the answers the bundle must give.

Used by the deployment's pre-traffic hook, the synthetic probe and the parity tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# Probabilities may differ by float rounding between runtimes, never by more than this.
GOLDEN_TOLERANCE = 1e-6


class GoldenCase(BaseModel):
    """One request body and the answer expected for it."""

    name: str
    request: dict[str, Any]  # the body a consumer sends to /<api>/predict
    probability: float
    decision: str
    confidence: str


class GoldenSet(BaseModel):
    api_version: str
    model_version: str
    tolerance: float = GOLDEN_TOLERANCE
    cases: list[GoldenCase]

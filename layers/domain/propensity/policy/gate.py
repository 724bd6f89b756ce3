"""The offline promotion gate's thresholds."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class GateThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_roc_auc: Annotated[float, Field(gt=0, lt=1)] = 0.78
    min_pr_auc: Annotated[float, Field(gt=0, lt=1)] = 0.40
    min_f1: Annotated[float, Field(gt=0, lt=1)] = 0.42
    max_ece: Annotated[float, Field(gt=0, lt=1)] = 0.05
    # Paired bootstrap: the challenger fails when the upper bound of the CI on
    # (challenger - champion) is below -tolerance, i.e. it is confidently worse.
    bootstrap_resamples: Annotated[int, Field(ge=100)] = 1000
    bootstrap_confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    degradation_tolerance: Annotated[float, Field(ge=0)] = 0.005
    segment_tolerance: Annotated[float, Field(ge=0)] = 0.03
    segment_floor_roc_auc: Annotated[float, Field(gt=0, lt=1)] = 0.65
    yes_rate_tolerance_points: Annotated[float, Field(gt=0)] = 5.0
    score_psi_max: Annotated[float, Field(gt=0)] = 0.1

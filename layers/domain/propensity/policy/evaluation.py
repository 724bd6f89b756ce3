"""Delayed ground-truth evaluation thresholds and business assumptions."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class EvaluationThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    f1_drop_warning_relative: Annotated[float, Field(gt=0, lt=1)] = 0.10
    conversion_drop_warning_relative: Annotated[float, Field(gt=0, lt=1)] = 0.15
    ece_info_bound: Annotated[float, Field(gt=0, lt=1)] = 0.05
    # Below this share of predictions with an outcome, figures are marked "thin coverage".
    min_label_coverage: Annotated[float, Field(gt=0, le=1)] = 0.5
    cost_per_call_eur: Annotated[float, Field(ge=0)] = 5.0
    value_per_subscription_eur: Annotated[float, Field(ge=0)] = 120.0

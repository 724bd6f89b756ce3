"""Delayed ground-truth evaluation thresholds and business assumptions.

The evaluation job (``propensity.evaluation``), its alarms (``infra/constructs/evaluation.py``)
and docs/evaluation.md all read these values; a stage overrides them in cdk.json.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class EvaluationThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Alarms: relative drops against the baseline, and the calibration bound.
    f1_drop_warning_relative: Annotated[float, Field(gt=0, lt=1)] = 0.10
    conversion_drop_warning_relative: Annotated[float, Field(gt=0, lt=1)] = 0.15
    ece_info_bound: Annotated[float, Field(gt=0, lt=1)] = 0.05
    # Below this share of predictions with an outcome, figures are marked "thin coverage".
    min_label_coverage: Annotated[float, Field(gt=0, le=1)] = 0.5
    # Fewer labelled rows than this: realised figures are reported but never judged (no alarm
    # metric is published), so a handful of early outcomes cannot page anyone.
    min_labelled_rows: Annotated[int, Field(ge=1)] = 200
    cost_per_call_eur: Annotated[float, Field(ge=0)] = 5.0
    value_per_subscription_eur: Annotated[float, Field(ge=0)] = 120.0
    # Windows: the weekly job re-evaluates the last ``lookback_windows`` complete windows of
    # ``window_days`` each, because outcomes for older predictions keep arriving.
    window_days: Annotated[int, Field(ge=1, le=31)] = 7
    lookback_windows: Annotated[int, Field(ge=1, le=26)] = 8
    # The historical conversion baseline is the mean over this many earlier judged windows of
    # the same model; with no history yet, the manifest's holdout precision stands in.
    conversion_baseline_windows: Annotated[int, Field(ge=1, le=52)] = 4
    # CBPE is only called trustworthy while the model's calibration on the labelled rows of
    # the same window (or the latest judged one) stays within this ECE, and the observed
    # subscription rate stays within this relative gap of the mean probability (a gap only
    # counts when it is also ``cbpe_gap_z`` standard errors wide, so small samples do not trip it).
    cbpe_max_ece: Annotated[float, Field(gt=0, lt=1)] = 0.05
    cbpe_max_relative_gap: Annotated[float, Field(gt=0)] = 0.25
    cbpe_gap_z: Annotated[float, Field(gt=0)] = 3.0

"""Input and prediction drift thresholds and the small-count policy."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class DriftThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    psi_warning: Annotated[float, Field(gt=0)] = 0.2
    psi_info: Annotated[float, Field(gt=0)] = 0.1
    psi_info_feature_count: Annotated[int, Field(ge=1)] = 2
    yes_rate_warning_points: Annotated[float, Field(gt=0, le=100)] = 15.0
    # Windows with fewer events than this are reported but not judged (no PSI metric is
    # published), so quiet hours cannot raise false alarms.
    min_events_per_window: Annotated[int, Field(ge=1)] = 200
    # PSI takes log(current / reference): an empty bin on either side is floored at this share
    # so that one unseen category adds a large but finite term instead of infinity.
    psi_epsilon: Annotated[float, Field(gt=0, lt=0.01)] = 1e-4

"""Thresholds of a deployment: the canary's rollback alarms and the pre-traffic golden check.

The CodeDeploy rollback alarms (infra/constructs/prediction.py) and the BeforeAllowTraffic
hook (propensity.deployment) read these through ``StageConfig.deployment``, so a stage
overrides a value in cdk.json and the alarm, the hook and docs/deploy.md agree.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Minutes = Annotated[int, Field(ge=1, le=60)]


class DeploymentThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Any unhandled error (crash, timeout, out of memory) of the NEW version during the canary
    # rolls back: at 10% of traffic one such error is already a strong signal.
    new_version_errors: Annotated[int, Field(ge=1)] = 1
    new_version_errors_minutes: Minutes = 1
    # Server errors (HTTP 5xx answered by the app) of the new model version, per minute.
    new_version_server_errors: Annotated[int, Field(ge=1)] = 1
    new_version_server_errors_minutes: Minutes = 1
    # p99 of the new version's Lambda duration, judged on ``latency_minutes`` one-minute
    # periods of which ``latency_breaching_minutes`` must breach (one slow minute is noise).
    new_version_p99_duration_ms: Annotated[float, Field(gt=0)] = 1000.0
    latency_minutes: Minutes = 3
    latency_breaching_minutes: Minutes = 2
    # Golden replay before traffic: how far a served probability may be from the bundle's
    # expected one. None: the bundle's own tolerance (GOLDEN_TOLERANCE, 1e-6; the service
    # serialises probabilities unrounded, so only float differences between machines remain).
    golden_probability_tolerance: Annotated[float, Field(gt=0, lt=1)] | None = None
    # Golden requests the pre-traffic hook replays (all of them when 0).
    golden_max_cases: Annotated[int, Field(ge=0)] = 0

"""The probe's configuration, read from the environment once at cold start."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from propensity.alerting.settings import EnvSettings
from propensity.constants import API_VERSIONS, ApiVersion
from propensity.policy.alarms import AlarmThresholds

_DEFAULTS = AlarmThresholds()


class ProbeSettings(EnvSettings):
    """Where the API is, how to authenticate, what to send and how to judge the answers."""

    api_url: Annotated[str, Field(alias="PROBE_API_URL", pattern=r"^https?://")]
    # Name of the Secrets Manager secret holding the probe's own API key (None: send no key,
    # e.g. against the local server).
    api_key_secret: Annotated[str | None, Field(alias="PROBE_API_KEY_SECRET")] = None
    # Folder with golden-v1.json and golden-v2.json; a relative path is relative to the
    # folder the caller names (the handler's own folder in Lambda).
    golden_dir: Annotated[Path, Field(alias="PROBE_GOLDEN_DIR")] = Path(".")
    apis: Annotated[tuple[ApiVersion, ...], Field(alias="PROBE_APIS")] = API_VERSIONS
    # Golden cases sent per API version and run; successive runs rotate through the set.
    cases_per_run: Annotated[int, Field(alias="PROBE_CASES_PER_RUN", ge=1, le=50)] = 3
    schedule_minutes: Annotated[int, Field(alias="PROBE_SCHEDULE_MINUTES", ge=1, le=60)] = 1
    # Runs per scheduled invocation, spread evenly over the schedule's period (EventBridge
    # cannot schedule more often than once a minute; two runs a minute = one every 30 s).
    runs_per_invocation: Annotated[int, Field(alias="PROBE_RUNS_PER_INVOCATION", ge=1, le=6)] = 1
    timeout_s: Annotated[float, Field(alias="PROBE_TIMEOUT_S", gt=0, le=60)] = 5.0
    latency_budget_ms: Annotated[float, Field(alias="PROBE_LATENCY_BUDGET_MS", gt=0)] = (
        _DEFAULTS.probe_latency_budget_ms
    )
    probability_tolerance: Annotated[float, Field(alias="PROBE_PROBABILITY_TOLERANCE", gt=0, lt=1)] = (
        _DEFAULTS.probe_probability_tolerance
    )
    region: Annotated[str | None, Field(alias="AWS_REGION")] = None

    @field_validator("apis", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def interval_seconds(self) -> float:
        """Seconds between the starts of two consecutive runs."""
        return 60 * self.schedule_minutes / self.runs_per_invocation

    def golden_path(self, base: Path) -> Path:
        """The golden folder, resolving a relative setting against ``base``."""
        return self.golden_dir if self.golden_dir.is_absolute() else base / self.golden_dir

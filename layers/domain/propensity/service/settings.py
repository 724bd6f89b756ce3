"""Service configuration, parsed once from the environment at start-up.

The infrastructure sets these variables on each prediction function; the local server
builds the same model in code. Logic receives a ``ServiceSettings``, never ``os.environ``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from propensity.constants import API_VERSIONS, ApiVersion

MetricsFlush = Literal["invocation", "request", "off"]
# Where a consumer's identity comes from: API Gateway's usage-plan key id (deployed), or the
# API key header itself (the local server, which has no API Gateway in front of it).
ConsumerSource = Literal["api_key_id", "api_key"]

# Set by the infrastructure: {"<API key id>": "<consumer name>"} for the stage's consumers.
CONSUMER_KEY_IDS_ENV: Final[str] = "CONSUMER_KEY_IDS"
# The registry whose running v2 A/B experiment this deployment serves (set at synth for S3 registries).
EXPERIMENT_REGISTRY_ENV: Final[str] = "EXPERIMENT_REGISTRY"
# Local: {"<API key value>": "<consumer name>"} as JSON, or the path of a JSON file holding it.
LOCAL_CONSUMERS_ENV: Final[str] = "PROPENSITY_CONSUMERS"
MAX_CONSUMER_NAME: Final[int] = 64


def parse_consumers(raw: str | None, variable: str) -> dict[str, str]:
    """``{key: name}`` from JSON text or, when ``raw`` names a file, from that file's JSON."""
    if raw is None or not raw.strip():
        return {}
    text = raw
    if not raw.lstrip().startswith("{"):
        try:
            text = Path(raw).read_text()
        except OSError as error:
            raise ValueError(
                f"{variable}: {raw} is neither a JSON object nor a readable file ({error})"
            ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{variable} is not valid JSON: {error}") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and 0 < len(v) <= MAX_CONSUMER_NAME
        for k, v in value.items()
    ):
        raise ValueError(
            f'{variable} must be a JSON object {{"<key>": "<consumer name>"}} of non-empty strings'
        )
    return value


def local_consumers(environ: Mapping[str, str]) -> dict[str, str]:
    """The local server's API key to consumer name map ($PROPENSITY_CONSUMERS)."""
    return parse_consumers(environ.get(LOCAL_CONSUMERS_ENV), LOCAL_CONSUMERS_ENV)


# The dates the local server announces when V1_DEPRECATION_DATE / V1_SUNSET_DATE are unset.
# Deployed functions always get them from infra/config.py (StageConfig.v1_deprecation_date and
# .v1_sunset_date), whose defaults are these.
DEFAULT_V1_DEPRECATION_DATE: Final[date] = date(2026, 9, 1)
DEFAULT_V1_SUNSET_DATE: Final[date] = date(2027, 6, 30)


class ServiceSettings(BaseModel):
    """What one deployment of the service serves, from where, and how it announces v1's end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_versions: Annotated[
        tuple[ApiVersion, ...], Field(min_length=1, description="API versions this deployment serves")
    ]
    model_dir_v1: Annotated[Path | None, Field(description="Bundle folder of the v1 model")] = None
    model_dir_v2: Annotated[Path | None, Field(description="Bundle folder of the v2 model")] = None
    v1_deprecation_date: date | None = None
    v1_sunset_date: date | None = None
    archive_dir: Annotated[
        Path | None, Field(description="Local archive root; PredictionEvents are appended there too")
    ] = None
    # Lambda flushes EMF once per invocation (Powertools' log_metrics); a long-running server
    # serving both versions must flush per request so each blob carries its own dimensions
    # ("off" for local runs with no CloudWatch to read the EMF).
    metrics_flush: MetricsFlush = "invocation"
    # One PredictionEvent JSON line per scored record on stdout: the Lambda log stream that the
    # archive's subscription reads. The local server writes to ARCHIVE_DIR instead.
    events_to_stdout: bool = True
    # API key id (deployed) or API key (local) -> consumer name: the event's ``consumer`` and
    # the ``V1Calls`` metric's ``Consumer`` dimension (bounded by this map; others "unknown").
    consumers: dict[str, str] = Field(default_factory=dict)
    consumer_source: ConsumerSource = "api_key_id"
    # A/B experiments (issue 17): the registry whose running v2 experiment this deployment
    # serves (both models loaded; see propensity.experiments.serving). None: no experiments.
    experiment_registry: str | None = None

    @field_validator("api_versions", mode="before")
    @classmethod
    def _split_versions(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            unknown = [v for v in value if v not in API_VERSIONS]
            if unknown:
                raise ValueError(f"unknown API version(s) {unknown}; known: {', '.join(API_VERSIONS)}")
            return tuple(dict.fromkeys(value))  # keep order, drop duplicates
        return value

    @model_validator(mode="after")
    def _v1_needs_dates(self) -> ServiceSettings:
        if "v1" in self.api_versions:
            if self.v1_deprecation_date is None or self.v1_sunset_date is None:
                raise ValueError("serving v1 needs V1_DEPRECATION_DATE and V1_SUNSET_DATE (ISO dates)")
            if self.v1_sunset_date < self.v1_deprecation_date:
                raise ValueError("V1_SUNSET_DATE must not be before V1_DEPRECATION_DATE")
        return self

    def model_dir(self, api_version: ApiVersion) -> Path | None:
        """The configured bundle folder of ``api_version`` (``None`` when not configured)."""
        return self.model_dir_v1 if api_version == "v1" else self.model_dir_v2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        """Parse the service's environment variables (``os.environ`` by default).

        Relative ``MODEL_DIR_<V>`` paths are resolved against ``LAMBDA_TASK_ROOT`` when it is
        set (the infrastructure ships the bundle next to the handler as ``model``).
        """
        env = os.environ if environ is None else environ
        root = env.get("LAMBDA_TASK_ROOT")

        def model_dir(name: str) -> Path | None:
            raw = env.get(name)
            if not raw:
                return None
            path = Path(raw)
            return Path(root) / path if root and not path.is_absolute() else path

        return cls.model_validate(
            {
                "api_versions": env.get("API_VERSIONS", ""),
                "model_dir_v1": model_dir("MODEL_DIR_V1"),
                "model_dir_v2": model_dir("MODEL_DIR_V2"),
                "v1_deprecation_date": env.get("V1_DEPRECATION_DATE") or None,
                "v1_sunset_date": env.get("V1_SUNSET_DATE") or None,
                "archive_dir": env.get("ARCHIVE_DIR") or None,
                "metrics_flush": env.get("METRICS_FLUSH") or "invocation",
                "events_to_stdout": env.get("EVENTS_TO_STDOUT", "true").strip().lower()
                in {"1", "true", "yes"},
                "consumers": parse_consumers(env.get(CONSUMER_KEY_IDS_ENV), CONSUMER_KEY_IDS_ENV),
                "experiment_registry": env.get(EXPERIMENT_REGISTRY_ENV) or None,
            }
        )

"""Wiring the drift job for a run: settings from the environment, backends chosen once, requests.

The Lambda handler parses its event into a ``DriftRequest`` and calls ``run_drift``; the
``propensity drift`` command builds the same job over a local folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from propensity.archive.hours import parse_hour
from propensity.archive.store import open_archive
from propensity.constants import METRIC_NAMESPACE, ApiVersion
from propensity.drift.job import DriftJob, RunSummary, Schedule
from propensity.drift.publish import CloudWatchMetricsPublisher, LocalMetricsPublisher, MetricsPublisher
from propensity.monitoring.reference import Reference
from propensity.policy.drift import DriftThresholds
from propensity.query.factory import open_engine
from propensity.registry.manifests import ManifestSource, manifest_sources

MetricsBackend = Literal["cloudwatch", "local"]


class ManifestReferences:
    """A model version's reference distributions, from wherever its manifest is found."""

    def __init__(self, manifests: ManifestSource) -> None:
        self.manifests = manifests

    def reference(self, api_version: ApiVersion, model_version: str) -> Reference | None:
        manifest = self.manifests.manifest(api_version, model_version)
        return manifest.reference if manifest is not None else None


class DriftSettings(BaseModel):
    """The drift function's configuration, parsed once at cold start."""

    model_config = ConfigDict(frozen=True)

    archive_location: str
    registry_location: str | None = None
    references_dir: Path | None = None
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)
    schedule: Schedule = Field(default_factory=Schedule)
    metrics_backend: MetricsBackend = "cloudwatch"
    metric_namespace: str = METRIC_NAMESPACE
    athena_workgroup: str | None = None
    glue_database: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DriftSettings:
        """``ARCHIVE_LOCATION``; references from ``REFERENCES_DIR`` (shipped manifests) and/or
        ``REGISTRY_LOCATION``; ``DRIFT_THRESHOLDS`` and ``DRIFT_SCHEDULE`` as JSON; for an S3
        archive, ``ATHENA_WORKGROUP`` and ``GLUE_DATABASE`` (the engine is Athena there)."""
        if not env.get("ARCHIVE_LOCATION"):
            raise ValueError("drift settings: ARCHIVE_LOCATION is not set")
        if not env.get("REFERENCES_DIR") and not env.get("REGISTRY_LOCATION"):
            raise ValueError(
                "drift settings: set REFERENCES_DIR or REGISTRY_LOCATION (where references come from)"
            )
        return cls(
            archive_location=env["ARCHIVE_LOCATION"],
            registry_location=env.get("REGISTRY_LOCATION") or None,
            references_dir=Path(env["REFERENCES_DIR"]) if env.get("REFERENCES_DIR") else None,
            thresholds=DriftThresholds.model_validate(json.loads(env.get("DRIFT_THRESHOLDS") or "{}")),
            schedule=Schedule.model_validate(json.loads(env.get("DRIFT_SCHEDULE") or "{}")),
            metrics_backend=env.get("METRICS_BACKEND", "cloudwatch"),  # type: ignore[arg-type]
            metric_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", METRIC_NAMESPACE),
            athena_workgroup=env.get("ATHENA_WORKGROUP") or None,
            glue_database=env.get("GLUE_DATABASE") or None,
        )


class DriftRequest(BaseModel):
    """What to run: the scheduled catch-up (from an EventBridge event) or given hours."""

    mode: Literal["scheduled", "hours"]
    now: datetime | None = None
    hours: list[datetime] = Field(default_factory=list)
    force: bool = False

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> DriftRequest:
        """An EventBridge scheduled event, or ``{"hours": ["2026-11-26T10", ...], "force": true}``."""
        if event.get("detail-type") == "Scheduled Event":
            return cls(
                mode="scheduled", now=datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
            )
        if "hours" in event:
            raw = event["hours"]
            if not isinstance(raw, list) or not raw:
                raise ValueError('"hours" must be a non-empty list of hours like "2026-11-26T10"')
            return cls(mode="hours", hours=[parse_hour(str(h)) for h in raw], force=bool(event.get("force")))
        raise ValueError('expected an EventBridge scheduled event or {"hours": [...]}')


def build_job(settings: DriftSettings, publisher: MetricsPublisher | None = None) -> DriftJob:
    """The job over the configured archive, registry and metrics backend."""
    store = open_archive(settings.archive_location)
    if publisher is None:
        publisher = (
            CloudWatchMetricsPublisher(namespace=settings.metric_namespace)
            if settings.metrics_backend == "cloudwatch"
            else LocalMetricsPublisher(Path(settings.archive_location) / "drift" / "metrics.jsonl")
        )
    references = ManifestReferences(manifest_sources(settings.references_dir, settings.registry_location))
    engine = open_engine(
        settings.archive_location, workgroup=settings.athena_workgroup, database=settings.glue_database
    )
    return DriftJob(
        store=store,
        engine=engine,
        references=references,
        publisher=publisher,
        thresholds=settings.thresholds,
        schedule=settings.schedule,
    )


def run_drift(
    request: DriftRequest, settings: DriftSettings, job: DriftJob | None = None
) -> dict[str, object]:
    """Run what ``request`` asks; returns a JSON-ready summary (hours, alerts, watermark)."""
    runner = job or build_job(settings)
    summary: RunSummary = (
        runner.run_due(request.now or datetime.now(UTC))
        if request.mode == "scheduled"
        else runner.run_hours(request.hours, force=request.force)
    )
    if summary.failed:
        # Surfacing the failure makes Lambda count an error (and the errors alarm see it); the
        # watermark stayed before the failed hour, so the next run retries it.
        raise RuntimeError(f"drift: {len(summary.failed)} hour(s) failed: {summary.as_dict()['failed']}")
    return summary.as_dict()

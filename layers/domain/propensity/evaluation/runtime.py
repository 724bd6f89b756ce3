"""Wiring the evaluation job for a run: settings from the environment, backends chosen once.

The weekly Lambda parses its EventBridge event into an ``EvaluationRequest`` and calls
``run_requested``; ``propensity evaluate`` builds the same job over local folders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from propensity.archive.store import open_archive
from propensity.constants import METRIC_NAMESPACE
from propensity.evaluation.baselines import BaselineSource, ManifestBaselines
from propensity.evaluation.job import run_evaluation
from propensity.evaluation.models import RunSummary
from propensity.evaluation.publish import CloudWatchMetricsPublisher, LocalMetricsPublisher, MetricsPublisher
from propensity.evaluation.results import EVALUATION_PREFIX
from propensity.evaluation.windows import as_utc, windows_between
from propensity.policy.evaluation import EvaluationThresholds
from propensity.query.engine import Engine
from propensity.query.factory import open_engine
from propensity.registry.manifests import manifest_sources

MetricsBackend = Literal["cloudwatch", "local"]


class EvaluationSettings(BaseModel):
    """The evaluation function's configuration, parsed once at cold start."""

    model_config = ConfigDict(frozen=True)

    archive_location: str
    # Where manifests are read for the baselines: the registry (when the function can reach
    # it) and/or manifests shipped with the function (the models deployed with it).
    registry_location: str | None = None
    baselines_dir: Path | None = None
    thresholds: EvaluationThresholds = Field(default_factory=EvaluationThresholds)
    metrics_backend: MetricsBackend = "cloudwatch"
    metric_namespace: str = METRIC_NAMESPACE
    with_plots: bool = True
    athena_workgroup: str | None = None
    glue_database: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EvaluationSettings:
        """``ARCHIVE_LOCATION``; ``REGISTRY_LOCATION`` and/or ``BASELINES_DIR``; ``EVALUATION_THRESHOLDS``
        (JSON: the stage's ``evaluation`` block, passed by the CDK construct); ``METRICS_BACKEND``;
        for an S3 archive ``ATHENA_WORKGROUP`` and ``GLUE_DATABASE`` (the engine is Athena there).
        """
        if not env.get("ARCHIVE_LOCATION"):
            raise ValueError("evaluation settings: missing environment variable ARCHIVE_LOCATION")
        if not env.get("REGISTRY_LOCATION") and not env.get("BASELINES_DIR"):
            raise ValueError(
                "evaluation settings: set REGISTRY_LOCATION or BASELINES_DIR (where manifests are)"
            )
        return cls.model_validate(
            {
                "archive_location": env["ARCHIVE_LOCATION"],
                "registry_location": env.get("REGISTRY_LOCATION") or None,
                "baselines_dir": env.get("BASELINES_DIR") or None,
                "thresholds": json.loads(env.get("EVALUATION_THRESHOLDS") or "{}"),
                "metrics_backend": env.get("METRICS_BACKEND", "cloudwatch"),
                "metric_namespace": env.get("POWERTOOLS_METRICS_NAMESPACE", METRIC_NAMESPACE),
                "athena_workgroup": env.get("ATHENA_WORKGROUP") or None,
                "glue_database": env.get("GLUE_DATABASE") or None,
            }
        )


class EvaluationRequest(BaseModel):
    """The scheduled run (the lookback before the event's time) or an explicit range."""

    now: datetime
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> EvaluationRequest:
        """An EventBridge scheduled event, or ``{"start": "2026-11-02", "end": "2026-11-30"}`` (re-run)."""
        if event.get("detail-type") == "Scheduled Event":
            return cls(now=datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")))
        if "start" in event and "end" in event:
            return cls(
                now=datetime.now(UTC),
                start=datetime.fromisoformat(str(event["start"])),
                end=datetime.fromisoformat(str(event["end"])),
            )
        raise ValueError('expected an EventBridge scheduled event or {"start": ..., "end": ...}')


def build_baselines(settings: EvaluationSettings) -> BaselineSource:
    """Shipped manifests first (no network), then the registry."""
    return ManifestBaselines(manifest_sources(settings.baselines_dir, settings.registry_location))


def build_publisher(settings: EvaluationSettings) -> MetricsPublisher:
    if settings.metrics_backend == "cloudwatch":
        return CloudWatchMetricsPublisher(namespace=settings.metric_namespace)
    return LocalMetricsPublisher(Path(settings.archive_location) / EVALUATION_PREFIX / "metrics.jsonl")


def run_requested(
    request: EvaluationRequest,
    settings: EvaluationSettings,
    *,
    publisher: MetricsPublisher | None = None,
    baselines: BaselineSource | None = None,
    engine: Engine | None = None,
) -> RunSummary:
    """Run the job as configured (backends can be injected, as tests and the CLI do)."""
    windows = (
        windows_between(as_utc(request.start), as_utc(request.end), settings.thresholds.window_days)
        if request.start is not None and request.end is not None
        else None
    )
    return run_evaluation(
        open_archive(settings.archive_location),
        engine
        or open_engine(
            settings.archive_location, workgroup=settings.athena_workgroup, database=settings.glue_database
        ),
        baselines or build_baselines(settings),
        publisher or build_publisher(settings),
        settings.thresholds,
        now=request.now,
        windows=windows,
        with_plots=settings.with_plots,
    )


def summary_response(summary: RunSummary) -> dict[str, Any]:
    """What the Lambda returns: small, JSON-ready (the full figures are in the stored results)."""
    return {
        "run_at": summary.run_at.isoformat(),
        "windows": [w.label for w in summary.windows],
        "results": len(summary.results),
        "events": summary.events_read,
        "metrics_published": summary.metrics_published,
        "report": summary.report_key,
        "warnings": [
            f"{r.api_version}/{r.model_version}/{r.window.label}"
            for r in summary.results
            if r.signals.f1_warning or r.signals.conversion_warning
        ],
        "unmatched_outcomes": summary.unmatched_outcomes,
    }

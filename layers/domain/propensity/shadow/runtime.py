"""Wiring the shadow scorer: settings from the environment, backends chosen once, S3 events.

The scorer (and its loaded challengers) lives as long as the Lambda execution environment,
so a warm function only re-reads the alias, not the bundle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict

from propensity.archive.store import open_archive
from propensity.constants import ARCHIVE_PREDICTIONS_PREFIX, METRIC_NAMESPACE
from propensity.drift.publish import CloudWatchMetricsPublisher, LocalMetricsPublisher, MetricsPublisher
from propensity.observability import logger
from propensity.registry.factory import open_registry
from propensity.shadow.challenger import ChallengerCache
from propensity.shadow.scorer import LATENCY_SAMPLE_REQUESTS, ShadowScorer


class ShadowSettings(BaseModel):
    """The shadow function's configuration, parsed once at cold start."""

    model_config = ConfigDict(frozen=True)

    archive_location: str
    registry_location: str
    cache_dir: Path = Path("/tmp/challengers")  # noqa: S108 (Lambda's only writable folder)
    check_interval_seconds: float = 60.0
    latency_sample: int = LATENCY_SAMPLE_REQUESTS
    metrics_backend: Literal["cloudwatch", "local"] = "cloudwatch"
    metric_namespace: str = METRIC_NAMESPACE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ShadowSettings:
        """``ARCHIVE_LOCATION``, ``REGISTRY_LOCATION``; ``SHADOW_OPTIONS``: JSON of the other fields."""
        missing = [name for name in ("ARCHIVE_LOCATION", "REGISTRY_LOCATION") if not env.get(name)]
        if missing:
            raise ValueError(f"shadow settings: missing environment variables {', '.join(missing)}")
        options: dict[str, Any] = json.loads(env.get("SHADOW_OPTIONS") or "{}")
        return cls(
            archive_location=env["ARCHIVE_LOCATION"],
            registry_location=env["REGISTRY_LOCATION"],
            metric_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", METRIC_NAMESPACE),
            **{"metrics_backend": env.get("METRICS_BACKEND", "cloudwatch"), **options},
        )


def build_scorer(settings: ShadowSettings, publisher: MetricsPublisher | None = None) -> ShadowScorer:
    """A scorer over the configured archive and registry."""
    if publisher is None:
        publisher = (
            CloudWatchMetricsPublisher(namespace=settings.metric_namespace)
            if settings.metrics_backend == "cloudwatch"
            else LocalMetricsPublisher(Path(settings.archive_location) / "shadow" / "metrics.jsonl")
        )
    challengers = ChallengerCache(
        open_registry(settings.registry_location), settings.cache_dir, settings.check_interval_seconds
    )
    return ShadowScorer(
        open_archive(settings.archive_location), challengers, publisher, settings.latency_sample
    )


def archive_keys(event: Mapping[str, Any]) -> list[str]:
    """Archive object keys named by an S3 ObjectCreated notification (decoded; others ignored)."""
    keys = []
    for record in event.get("Records", []):
        if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
            "ObjectCreated"
        ):
            continue
        key = unquote_plus(record["s3"]["object"]["key"])
        if key.startswith(ARCHIVE_PREDICTIONS_PREFIX):
            keys.append(key)
        else:
            logger.warning("not an archive object; ignored", extra={"key": key})
    return keys


def shadow_keys(scorer: ShadowScorer, keys: list[str]) -> dict[str, Any]:
    """Shadow-score each key; a JSON-ready summary."""
    summaries = [scorer.score_object(key) for key in keys]
    return {"objects": [s.model_dump(mode="json") for s in summaries]}

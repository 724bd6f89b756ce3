"""Shadow scoring: the challenger scores the same real requests as the champion, off the serving path.

Triggered by each new archive object (S3 notification), it reads the object's
PredictionEvents, scores their features with the registry's challenger for that API version,
and writes one result per prediction id to

    shadow/results/<api>/YYYY/MM/DD/HH/<archive object name>.jsonl.gz

(the same object always maps to the same result key, so a redelivered notification replaces
its results instead of adding to them). Consumers never see the challenger's answers.

Latency: a sample of requests is re-scored one request at a time, as the service would have
scored them, and timed; the champion's figure is the ``inference_ms`` its event recorded.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, Field

from propensity.archive.hours import hour_of_key
from propensity.archive.reader import ReadStats, iter_object_events
from propensity.archive.store import ArchiveStore
from propensity.bundle.io import Bundle
from propensity.constants import ApiVersion
from propensity.drift.publish import MetricPoint, MetricsPublisher
from propensity.events import PredictionEvent
from propensity.features.schemas import SPECS
from propensity.observability import logger
from propensity.shadow.challenger import ChallengerCache

SHADOW_PREFIX = "shadow/results/"
LATENCY_SAMPLE_REQUESTS = 200

# Metric names (dimension: API version); alarms and the digest import these.
SHADOW_EVENTS = "ShadowEvents"
SHADOW_AGREEMENT = "ShadowAgreementRate"
SHADOW_DIFFERENCE = "ShadowProbabilityDifference"
SHADOW_LATENCY = "ShadowChallengerLatencyMs"
SHADOW_CHAMPION_LATENCY = "ShadowChampionInferenceMs"
API_DIMENSION = "ApiVersion"


class ShadowRecord(BaseModel):
    """Champion and challenger on one prediction, keyed by its prediction id."""

    prediction_id: str
    request_id: str
    timestamp: datetime
    api_version: ApiVersion
    champion_version: str
    champion_probability: float
    champion_decision: str
    champion_threshold: float
    champion_inference_ms: float
    challenger_version: str
    challenger_probability: float
    challenger_decision: str
    challenger_confidence: str
    challenger_threshold: float
    challenger_latency_ms: Annotated[float | None, Field(description="set on sampled requests")] = None
    source_key: str

    @property
    def agree(self) -> bool:
        return self.champion_decision == self.challenger_decision

    @property
    def difference(self) -> float:
        """Challenger minus champion probability."""
        return self.challenger_probability - self.champion_probability


class ApiShadowSummary(BaseModel):
    """One API version's part of an archive object."""

    api_version: ApiVersion
    events: int
    scored: int = 0
    skipped: int = 0
    note: str = ""
    challenger_version: str | None = None
    agreement_rate: float | None = None
    mean_abs_difference: float | None = None
    challenger_latency_ms: float | None = None  # mean over sampled requests
    champion_inference_ms: float | None = None  # mean over the same requests
    result_key: str | None = None


class ShadowSummary(BaseModel):
    """What shadow scoring did with one archive object."""

    source_key: str
    lines: int
    bad_lines: int
    synthetic_events: int = 0  # probe and hook traffic: counted, never rescored
    apis: list[ApiShadowSummary] = Field(default_factory=list)


def result_key(source_key: str, api_version: str) -> str:
    """Where the shadow results of ``source_key`` go (deterministic: re-runs overwrite)."""
    hour = hour_of_key(source_key)
    folder = f"{hour:%Y/%m/%d/%H}" if hour is not None else "unknown-hour"
    name = source_key.rsplit("/", 1)[-1].removesuffix(".gz").removesuffix(".jsonl")
    return f"{SHADOW_PREFIX}{api_version}/{folder}/{name}.jsonl.gz"


def _columns(api_version: ApiVersion, events: Sequence[PredictionEvent]) -> dict[str, list[Any]]:
    return {name: [e.features.get(name) for e in events] for name in SPECS[api_version].names}


def _timed_requests(bundle: Bundle, events: Sequence[PredictionEvent], sample: int) -> dict[str, float]:
    """Milliseconds the challenger takes per request, for the first ``sample`` requests."""
    by_request: dict[str, list[PredictionEvent]] = {}
    for event in events:
        if event.request_id in by_request or len(by_request) < sample:
            by_request.setdefault(event.request_id, []).append(event)
    timings = {}
    for request_id, rows in by_request.items():
        columns = _columns(bundle.manifest.api_version, rows)
        started = time.perf_counter()
        bundle.model.score(columns)
        timings[request_id] = 1000 * (time.perf_counter() - started)
    return timings


def score_events(
    bundle: Bundle,
    events: Sequence[PredictionEvent],
    source_key: str,
    latency_sample: int = LATENCY_SAMPLE_REQUESTS,
) -> list[ShadowRecord]:
    """The challenger's answer next to the champion's for each event (same features, same order)."""
    if not events:
        return []
    scores = bundle.model.score(_columns(bundle.manifest.api_version, events))
    timings = _timed_requests(bundle, events, latency_sample)
    threshold = bundle.manifest.threshold
    return [
        ShadowRecord(
            prediction_id=e.prediction_id,
            request_id=e.request_id,
            timestamp=e.timestamp,
            api_version=e.api_version,
            champion_version=e.model_version,
            champion_probability=e.probability,
            champion_decision=e.decision,
            champion_threshold=e.threshold,
            champion_inference_ms=e.latency.inference_ms,
            challenger_version=bundle.version,
            challenger_probability=float(scores.probability[i]),
            challenger_decision="yes" if scores.decision[i] else "no",
            challenger_confidence=str(scores.confidence[i]),
            challenger_threshold=threshold,
            challenger_latency_ms=timings.get(e.request_id),
            source_key=source_key,
        )
        for i, e in enumerate(events)
    ]


def write_records(store: ArchiveStore, key: str, records: Sequence[ShadowRecord]) -> None:
    lines = "".join(r.model_dump_json() + "\n" for r in records).encode()
    store.put(key, gzip.compress(lines))


def _summary(api: ApiVersion, events: int, records: Sequence[ShadowRecord]) -> ApiShadowSummary:
    sampled = [r for r in records if r.challenger_latency_ms is not None]
    return ApiShadowSummary(
        api_version=api,
        events=events,
        scored=len(records),
        challenger_version=records[0].challenger_version if records else None,
        agreement_rate=float(np.mean([r.agree for r in records])) if records else None,
        mean_abs_difference=float(np.mean([abs(r.difference) for r in records])) if records else None,
        challenger_latency_ms=float(np.mean([r.challenger_latency_ms for r in sampled])) if sampled else None,
        champion_inference_ms=float(np.mean([r.champion_inference_ms for r in sampled])) if sampled else None,
    )


def summary_points(summary: ApiShadowSummary, at: datetime) -> list[MetricPoint]:
    """Metric values of one API version's shadow summary (gauges: read with Average or Maximum)."""
    dims: dict[str, str] = {API_DIMENSION: summary.api_version}
    points = [MetricPoint(SHADOW_EVENTS, summary.scored, at, dims, "Count")]
    if summary.agreement_rate is not None:
        points.append(MetricPoint(SHADOW_AGREEMENT, 100 * summary.agreement_rate, at, dims, "Percent"))
    if summary.mean_abs_difference is not None:
        points.append(MetricPoint(SHADOW_DIFFERENCE, summary.mean_abs_difference, at, dims))
    if summary.challenger_latency_ms is not None:
        points.append(MetricPoint(SHADOW_LATENCY, summary.challenger_latency_ms, at, dims, "Milliseconds"))
    if summary.champion_inference_ms is not None:
        points.append(
            MetricPoint(SHADOW_CHAMPION_LATENCY, summary.champion_inference_ms, at, dims, "Milliseconds")
        )
    return points


@dataclass
class ShadowScorer:
    """Shadow-score archive objects with the registry's challengers; publish the comparison."""

    store: ArchiveStore
    challengers: ChallengerCache
    publisher: MetricsPublisher
    latency_sample: int = LATENCY_SAMPLE_REQUESTS
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def score_object(self, key: str) -> ShadowSummary:
        """Score one archive object's events with the challenger of each API version they use."""
        stats = ReadStats()
        by_api: dict[ApiVersion, list[PredictionEvent]] = {}
        synthetic = 0
        for event in iter_object_events(self.store, key, stats):
            if event.synthetic:  # golden requests are not traffic: comparing on them says nothing
                synthetic += 1
                continue
            by_api.setdefault(event.api_version, []).append(event)
        summary = ShadowSummary(
            source_key=key, lines=stats.lines, bad_lines=stats.bad_lines, synthetic_events=synthetic
        )
        now = self.clock()
        for api, events in sorted(by_api.items()):
            bundle = self.challengers.get(api)
            if bundle is None:
                summary.apis.append(
                    ApiShadowSummary(
                        api_version=api,
                        events=len(events),
                        skipped=len(events),
                        note="no challenger for this API version",
                    )
                )
                continue
            # Events the challenger itself served (it may be in a canary) have nothing to compare with.
            compared = [e for e in events if e.model_version != bundle.version]
            records = score_events(bundle, compared, key, self.latency_sample)
            api_summary = _summary(api, len(events), records)
            api_summary.skipped = len(events) - len(compared)
            if records:
                api_summary.result_key = result_key(key, api)
                write_records(self.store, api_summary.result_key, records)
                self.publisher.publish(summary_points(api_summary, now))
            summary.apis.append(api_summary)
        logger.info("shadow scored", extra={"summary": summary.model_dump(mode="json")})
        return summary

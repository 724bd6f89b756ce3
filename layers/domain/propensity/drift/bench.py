"""Benchmark: the drift job over N archived PredictionEvents (gzip JSON lines), time and memory.

``make bench`` calls ``run_drift_benchmark``. The events are shaped exactly like the
service's (``PredictionEvent.model_dump_json``): a pool of distinct events built from the
synthetic data set, each written with its own prediction id, half v1 and half v2, with a
share of v2 events carrying unknown-category warnings (they take the reader's slow path),
in objects of about Firehose's size, all in one hour. Only the job is timed.
"""

from __future__ import annotations

import gzip
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from propensity.archive.layout import hour_prefix
from propensity.archive.store import LocalArchiveStore
from propensity.constants import API_VERSIONS, ApiVersion
from propensity.data.loader import parse_csv
from propensity.data.synthetic import synthetic_csv
from propensity.drift.job import DriftJob
from propensity.drift.publish import LocalMetricsPublisher
from propensity.drift.window import StaticReferences
from propensity.events import PhaseLatency, PredictionEvent
from propensity.features.schemas import SPECS
from propensity.features.translate import v1_columns_to_v2_flat
from propensity.model.confidence import bands
from propensity.monitoring.reference import Reference, build_reference

BENCH_HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)
EVENTS_PER_OBJECT = 50_000
POOL_SIZE = 4_000
THRESHOLD = 0.3
UNKNOWN_SHARE = 0.02


def _columns(api: ApiVersion, rows: int, seed: int) -> tuple[dict[str, list[Any]], np.ndarray[Any, Any]]:
    columns, target = parse_csv(synthetic_csv(rows, seed), "synthetic")
    return (columns if api == "v1" else v1_columns_to_v2_flat(columns)), target


def _reference(api: ApiVersion) -> Reference:
    columns, target = _columns(api, 3000, 1)
    probability = np.random.default_rng(1).beta(1.2, 6.0, size=len(target))
    return build_reference(SPECS[api], columns, target, probability, THRESHOLD)


def _pool(api: ApiVersion, seed: int) -> list[tuple[bytes, bytes]]:
    """Distinct event lines split around the prediction id: (before, after)."""
    columns, _ = _columns(api, POOL_SIZE, seed)
    rng = random.Random(seed)
    names = list(SPECS[api].names)
    probability = np.random.default_rng(seed).beta(1.3, 5.0, size=POOL_SIZE)
    confidence = bands(probability, THRESHOLD)
    pool = []
    for i in range(POOL_SIZE):
        features = {name: columns[name][i] for name in names}
        warnings: list[str] = []
        if api == "v2" and rng.random() < UNKNOWN_SHARE:
            features["job"] = "astronaut"
            warnings = ["customer.job: unknown value 'astronaut' scored as an unseen category"]
        event = PredictionEvent(
            prediction_id="PLACEHOLDER",
            request_id=str(uuid.UUID(int=rng.getrandbits(128))),
            timestamp=BENCH_HOUR.replace(minute=rng.randrange(60)),
            api_version=api,
            model_version=f"{api}-bench",
            consumer="key-crm",
            features=features,
            probability=float(probability[i]),
            decision="yes" if probability[i] >= THRESHOLD else "no",
            threshold=THRESHOLD,
            confidence=str(confidence[i]),  # type: ignore[arg-type]
            warnings=warnings,
            latency=PhaseLatency(
                validation_ms=0.05, preprocessing_ms=0.04, inference_ms=0.2, serialization_ms=0.02
            ),
        )
        before, after = event.model_dump_json().encode().split(b"PLACEHOLDER")
        pool.append((before, after))
    return pool


def _lines(n_events: int) -> Iterator[bytes]:
    pools = [_pool(api, seed) for seed, api in enumerate(API_VERSIONS, start=3)]
    for i in range(n_events):
        before, after = pools[i % 2][(i // 2) % POOL_SIZE]
        yield b"%s%012d%s\n" % (before, i, after)


def write_bench_archive(root: Path, n_events: int) -> int:
    """Write ``n_events`` events into one hour of a local archive; returns the number of objects."""
    folder = root / hour_prefix(BENCH_HOUR)
    folder.mkdir(parents=True, exist_ok=True)
    lines = _lines(n_events)
    objects = 0
    remaining = n_events
    while remaining > 0:
        size = min(EVENTS_PER_OBJECT, remaining)
        data = b"".join(next(lines) for _ in range(size))
        (folder / f"bench-{objects:04d}.gz").write_bytes(gzip.compress(data, compresslevel=6))
        objects += 1
        remaining -= size
    return objects


def run_drift_benchmark(n_events: int = 1_000_000) -> dict[str, Any]:
    """Generate ``n_events`` archived events, run the drift job on their hour, return the figures."""
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        objects = write_bench_archive(root, n_events)
        generated_s = time.perf_counter() - started
        archive_mib = sum(p.stat().st_size for p in root.rglob("*.gz")) / 2**20
        references = StaticReferences({(api, f"{api}-bench"): _reference(api) for api in API_VERSIONS})
        job = DriftJob(LocalArchiveStore(root), references, LocalMetricsPublisher())
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        outcome = job.run_hour(BENCH_HOUR)
        seconds = time.perf_counter() - started
        peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = outcome.result
    return {
        "n_events": n_events,
        "events_counted": result.events,
        "bad_lines": result.bad_lines,
        "objects": objects,
        "archive_gzip_mib": round(archive_mib, 1),
        "generate_seconds": round(generated_s, 2),
        "seconds": round(seconds, 2),
        "events_per_second": round(result.events / seconds) if seconds else None,
        "peak_rss_mib": round(peak_rss_mib, 1),
        "peak_rss_mib_before_job": round(rss_before, 1),
        "target_seconds": 60,
        "target_rss_mib": 1024,
        "groups": [(g.api_version, g.events, g.judged) for g in result.groups],
    }

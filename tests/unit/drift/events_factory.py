"""PredictionEvents shaped like the service's, from the synthetic data set (no model needed)."""

from __future__ import annotations

import random
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from propensity.archive.hours import floor_hour
from propensity.archive.layout import LocalArchiveWriter
from propensity.data.loader import parse_csv
from propensity.data.synthetic import synthetic_csv
from propensity.drift.aggregates import HourCounts, count_hours
from propensity.events import PhaseLatency, PredictionEvent
from propensity.features.schemas import SPECS
from propensity.features.translate import v1_columns_to_v2_flat
from propensity.model.confidence import bands
from propensity.monitoring.reference import Reference, build_reference
from propensity.query.duckdb_engine import DuckDBEngine

THRESHOLD = 0.3


def columns(api: str, rows: int, seed: int) -> dict[str, list[Any]]:
    cols, _ = parse_csv(synthetic_csv(rows, seed), "synthetic")
    return cols if api == "v1" else v1_columns_to_v2_flat(cols)


def reference(api: str, rows: int = 2000, seed: int = 1) -> Reference:
    cols, target = parse_csv(synthetic_csv(rows, seed), "synthetic")
    flat = cols if api == "v1" else v1_columns_to_v2_flat(cols)
    probability = np.random.default_rng(seed).beta(1.2, 6.0, size=len(target))
    return build_reference(SPECS[api], flat, target, probability, THRESHOLD)


def make_events(
    api: str,
    n: int,
    start: datetime,
    *,
    seed: int = 5,
    model_version: str | None = None,
    probabilities: np.ndarray | None = None,
    overrides: dict[str, Any] | None = None,
    warnings: list[str] | None = None,
) -> list[PredictionEvent]:
    cols = columns(api, n, seed)
    rng = random.Random(seed)
    p = probabilities if probabilities is not None else np.random.default_rng(seed).beta(1.3, 5.0, size=n)
    band = bands(np.asarray(p), THRESHOLD)
    names = SPECS[api].names
    events = []
    for i in range(n):
        features = {name: cols[name][i] for name in names} | (overrides or {})
        events.append(
            PredictionEvent(
                prediction_id=str(uuid.UUID(int=rng.getrandbits(128))),
                request_id=str(uuid.UUID(int=rng.getrandbits(128))),
                timestamp=start + timedelta(seconds=i * 3599 // max(n, 1)),
                api_version=api,
                model_version=model_version or f"{api}-test",
                consumer="key-crm",
                features=features,
                probability=float(p[i]),
                decision="yes" if p[i] >= THRESHOLD else "no",
                threshold=THRESHOLD,
                confidence=str(band[i]),
                warnings=list(warnings or []),
                latency=PhaseLatency(
                    validation_ms=0.1, preprocessing_ms=0.1, inference_ms=0.3, serialization_ms=0.05
                ),
            )
        )
    return events


def lines(events: list[PredictionEvent]) -> list[bytes]:
    return [(e.model_dump_json() + "\n").encode() for e in events]


def count_events(events: list[PredictionEvent], hour: datetime) -> HourCounts:
    """The engine's counts of ``events`` written to a real local archive by the service's writer."""
    with tempfile.TemporaryDirectory(prefix="drift-counts-") as scratch:
        root = Path(scratch)
        LocalArchiveWriter(root).write(events)
        return count_hours(DuckDBEngine(root), [hour])[floor_hour(hour)]

"""Replay labelled rows as production traffic: PredictionEvents in the archive, outcomes ingested.

Used by ``propensity retrain-demo`` and the retraining tests (training-side only, never by a
Lambda). Each row is scored by the serving model (``ScoringModel``, the path the service
runs), archived as the PredictionEvent the service would write, stamped on the row's own
calendar month (the service stamps the wall clock), and its real outcome is dropped as a
label file under ``labels/`` and ingested by the real ingestion (``labels.ingest``).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np

from propensity.archive.layout import LocalArchiveWriter
from propensity.archive.store import LocalArchiveStore
from propensity.bundle.io import Bundle
from propensity.constants import ConfidenceBand
from propensity.data.loader import BankDataset
from propensity.events import PhaseLatency, PredictionEvent
from propensity.labels.ingest import ingest_all
from propensity.labels.layout import LABELS_PREFIX
from propensity.training.train import flat_columns

OUTCOME_DELAY = timedelta(days=14)


def _moment(month: str, i: int) -> datetime:
    year, number = int(month[:4]), int(month[5:7])
    return datetime(year, number, 1, 8, tzinfo=UTC) + timedelta(minutes=7 * i)


def replay_month(store: LocalArchiveStore, bundle: Bundle, rows: BankDataset, month: str) -> int:
    """Archive ``rows`` (all of ``month``) as scored by ``bundle``; drop and ingest their outcomes."""
    api = bundle.manifest.api_version
    flat = flat_columns(rows, api)
    scores = bundle.model.score(flat)
    names = list(flat)
    writer = LocalArchiveWriter(store.root)
    events = []
    labels = io.StringIO()
    out = csv.writer(labels, lineterminator="\n")
    out.writerow(["prediction_id", "outcome", "outcome_date"])
    for i in range(len(rows)):
        moment = _moment(month, i)
        prediction_id = f"replay-{month}-{i:05d}"
        events.append(
            PredictionEvent(
                prediction_id=prediction_id,
                request_id=prediction_id,
                timestamp=moment,
                api_version=api,
                model_version=bundle.version,
                features={name: flat[name][i] for name in names},
                probability=float(scores.probability[i]),
                decision="yes" if scores.decision[i] else "no",
                threshold=bundle.model.threshold,
                confidence=cast(ConfidenceBand, str(scores.confidence[i])),
                latency=PhaseLatency(validation_ms=0, preprocessing_ms=0, inference_ms=0, serialization_ms=0),
            )
        )
        outcome = "yes" if rows.target[i] else "no"
        out.writerow([prediction_id, outcome, (moment + OUTCOME_DELAY).date().isoformat()])
    # one archive file per hour, as the service writes
    hours: dict[datetime, list[PredictionEvent]] = {}
    for event in events:
        hours.setdefault(event.timestamp.replace(minute=0, second=0, microsecond=0), []).append(event)
    for batch in hours.values():
        writer.write(batch)
    store.put(f"{LABELS_PREFIX}outcomes-{month}.csv", labels.getvalue().encode())
    results = ingest_all(store)
    rejected = sum(r.record.rejected for r in results if not r.duplicate)
    if rejected:
        raise RuntimeError(f"{rejected} replayed outcomes of {month} were rejected by ingestion")
    return len(rows)


def month_rows(dataset: BankDataset, month: str) -> BankDataset:
    return dataset.take(np.flatnonzero(dataset.calendar_months() == month))

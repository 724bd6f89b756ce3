"""Hand-made PredictionEvents, label files and baselines for the evaluation unit tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from propensity.archive.layout import LocalArchiveWriter
from propensity.archive.store import LocalArchiveStore
from propensity.evaluation.baselines import Baseline
from propensity.events import PhaseLatency, PredictionEvent
from propensity.query.duckdb_engine import DuckDBEngine

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # windows are aligned to Mondays
LATENCY = PhaseLatency(validation_ms=0.1, preprocessing_ms=0.2, inference_ms=0.3, serialization_ms=0.1)

V1_FEATURES: dict[str, Any] = {
    "age": 40,
    "job": "admin.",
    "marital": "married",
    "education": "secondary",
    "default": "no",
    "balance": 1500,
    "housing": "yes",
    "loan": "no",
    "contact": "cellular",
    "day": 5,
    "month": "may",
    "campaign": 1,
    "pdays": -1,
    "previous": 0,
    "poutcome": "unknown",
}
V2_FEATURES: dict[str, Any] = {
    "age": 40,
    "job": "admin.",
    "marital_status": "married",
    "education": "secondary",
    "balance_eur": 1500,
    "has_credit_default": False,
    "has_housing_loan": True,
    "has_personal_loan": False,
    "contact_channel": "cellular",
    "last_contact_day": 5,
    "last_contact_month": "may",
    "contacts_this_campaign": 1,
    "days_since_previous_contact": None,
    "previous_contacts": 0,
    "previous_outcome": "unknown",
}


def make_event(
    prediction_id: str,
    probability: float,
    *,
    at: datetime = MONDAY + timedelta(hours=10),
    api: str = "v1",
    model: str = "v1-test",
    threshold: float = 0.5,
    customer_ref: str | None = None,
    **features: Any,
) -> PredictionEvent:
    base = dict(V1_FEATURES if api == "v1" else V2_FEATURES)
    base.update(features)
    return PredictionEvent(
        prediction_id=prediction_id,
        request_id=f"req-{prediction_id}",
        timestamp=at,
        api_version=api,
        model_version=model,
        customer_ref=customer_ref,
        features=base,
        probability=probability,
        decision="yes" if probability >= threshold else "no",
        threshold=threshold,
        confidence="medium",
        latency=LATENCY,
    )


def write_events(root: Path, events: list[PredictionEvent]) -> None:
    writer = LocalArchiveWriter(root)
    for event in events:
        writer.write([event])


def label_csv(rows: list[tuple[str, str, date | str]]) -> bytes:
    lines = ["prediction_id,outcome,outcome_date"] + [f"{p},{o},{d}" for p, o, d in rows]
    return ("\n".join(lines) + "\n").encode()


class FixedBaselines:
    """A BaselineSource over a dict (the registry-backed one is tested with a real registry)."""

    def __init__(self, baselines: dict[tuple[str, str], Baseline]) -> None:
        self.baselines = baselines

    def baseline(self, api_version: str, model_version: str) -> Baseline | None:
        return self.baselines.get((api_version, model_version))


@pytest.fixture
def store(tmp_path: Path) -> LocalArchiveStore:
    return LocalArchiveStore(tmp_path / "archive")


@pytest.fixture
def engine(store: LocalArchiveStore) -> DuckDBEngine:
    """DuckDB over the same folder: the engine the local jobs use."""
    return DuckDBEngine(store.root)

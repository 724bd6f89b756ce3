"""A synthetic experiment in a real local archive: events as the service writes them, outcomes ingested."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from propensity.archive.layout import LocalArchiveWriter
from propensity.archive.store import LocalArchiveStore
from propensity.events import PhaseLatency, PredictionEvent
from propensity.experiments import power
from propensity.experiments.assignment import FALLBACK_WARNING, assign
from propensity.experiments.models import Experiment, ExperimentRecord
from propensity.labels.ingest import ingest_all

START = datetime(2026, 3, 2, tzinfo=UTC)
LATENCY = PhaseLatency(validation_ms=0.1, preprocessing_ms=0.1, inference_ms=0.1, serialization_ms=0.1)


def make_record(planned: int = 4000, share: float = 0.5, primary: str = "net_return") -> ExperimentRecord:
    design = power.design(
        primary_metric=primary,  # type: ignore[arg-type]
        planned_customers=planned,
        challenger_share=share,
        alpha=0.05,
        power=0.8,
        base_conversion=0.3,
        base_call_rate=0.25,
        base_source="synthetic",
        cost_per_call_eur=5.0,
        value_per_subscription_eur=120.0,
    )
    return ExperimentRecord(
        experiment_id="v2-exp0000",
        sequence=0,
        api_version="v2",
        champion_version="v2-champ",
        challenger_version="v2-chall",
        challenger_share=share,
        salt="synthetic-salt-0001",
        started_at=START,
        started_by="pytest",
        reason="synthetic",
        planned_customers=planned,
        design=design,
    )


def write_experiment(
    root: Path, record: ExperimentRecord, customers: int, lift: float, days: int = 28, seed: int = 1
) -> tuple[LocalArchiveStore, dict[str, int]]:
    """``customers`` customers over ``days`` days; the challenger ranks better by ``lift``.

    Returns the store (with outcomes ingested) and the truth per arm (predictions written).
    """
    rng = np.random.default_rng(seed)
    writer = LocalArchiveWriter(root)
    truth = {"champion": 0, "challenger": 0, "fallback": 0, "synthetic": 0}
    labels = []
    for c in range(customers):
        ref = f"cust-{c:05d}" if c % 50 else None  # every 50th request has no customer_ref
        request_id = f"req-{c:05d}"
        assignment = assign(record.salt, record.challenger_share, ref, request_id)
        latent = rng.normal()
        y = rng.random() < 1 / (1 + np.exp(-(latent - 1.2)))
        skill = 1.0 + (lift if assignment.arm == "challenger" else 0.0)
        p = float(1 / (1 + np.exp(-(skill * latent + rng.normal(0, 1.0) - 1.2))))
        moment = START + timedelta(minutes=int(rng.integers(0, days * 24 * 60)))
        warnings = [FALLBACK_WARNING] if assignment.by_request_id else []
        event = PredictionEvent(
            prediction_id=f"pred-{c:05d}",
            request_id=request_id,
            timestamp=moment,
            api_version="v2",
            model_version=record.challenger_version
            if assignment.arm == "challenger"
            else record.champion_version,
            customer_ref=ref,
            features={"age": 40},
            probability=p,
            decision="yes" if p >= 0.35 else "no",
            threshold=0.35,
            confidence="medium",
            warnings=warnings,
            latency=LATENCY,
            experiment=record.experiment_id,
            arm=assignment.arm,
        )
        writer.write([event])
        truth[assignment.arm] += 1
        truth["fallback"] += int(assignment.by_request_id)
        if c % 97 == 0:
            writer.write([event])  # a duplicate delivery
        if c % 101 == 0:  # probe traffic carries the experiment too, and must be left out
            writer.write([event.model_copy(update={"prediction_id": f"probe-{c}", "synthetic": True})])
            truth["synthetic"] += 1
        outcome_day = (moment + timedelta(days=int(rng.integers(3, 15)))).date()
        row = {"outcome": "yes" if y else "no", "outcome_date": str(outcome_day)}
        if ref is not None and c % 4 == 0:
            row["customer_ref"] = ref  # known only by the customer reference
        else:
            row["prediction_id"] = event.prediction_id
        labels.append(row)
    # An unrelated event outside the experiment
    writer.write([event.model_copy(update={"prediction_id": "other", "experiment": None, "arm": None})])
    labels_dir = root / "labels"
    labels_dir.mkdir(parents=True, exist_ok=True)
    (labels_dir / "outcomes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels))
    store = LocalArchiveStore(root)
    ingest_all(store, now=START + timedelta(days=days + 20))
    return store, truth


def experiment(record: ExperimentRecord) -> Experiment:
    return Experiment(record=record)

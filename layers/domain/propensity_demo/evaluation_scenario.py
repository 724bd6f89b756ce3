"""The real scenario: a model trained on the earlier part of the data meets the later part.

The Bank Marketing file is in date order and drifts strongly: the subscription rate climbs
from about 5% in the first 60% of rows to about 22% in the rest, and the contact mix changes.
This module

1. trains a bundle on the first ``train_share`` of rows (file order, ``BankDataset.take``) and
   registers it as champion in a local registry;
2. replays the remaining rows as production traffic over ``weeks`` consecutive weeks into a
   local archive with the production layout. v2 goes through the service itself
   (``propensity.service.app.create_app``, ``POST /v2/predict/batch`` with a customer
   reference per record): the PredictionEvents are the ones the service wrote, then placed on
   the replay's calendar (the service stamps the wall clock). v1's fixed contract has no batch
   endpoint (18,000 single requests would take minutes) and returns no prediction id, so v1
   rows are scored through the same ``ScoringModel`` path and the events built directly;
3. drops the real outcomes as label files under ``labels/``, one file per week of outcome
   dates, each outcome arriving 7 to 27 days after its prediction, and only those whose date
   has passed at ``now`` (so the newest weeks have thin coverage, as in production);
4. ingests the files and runs the evaluation job at ``now`` over the replayed weeks.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.archive.layout import LocalArchiveWriter
from propensity.archive.store import LocalArchiveStore
from propensity.bundle.io import Bundle
from propensity.constants import ApiVersion
from propensity.data.loader import BankDataset
from propensity.evaluation.baselines import ManifestBaselines
from propensity.evaluation.job import run_evaluation
from propensity.evaluation.models import RunSummary
from propensity.evaluation.publish import LocalMetricsPublisher
from propensity.evaluation.windows import windows_between
from propensity.events import PhaseLatency, PredictionEvent
from propensity.labels.ingest import ingest_all
from propensity.labels.layout import LABELS_PREFIX
from propensity.labels.models import IngestionResult
from propensity.policy.evaluation import EvaluationThresholds
from propensity.query.duckdb_engine import DuckDBEngine
from propensity.registry.manifests import RegistryManifests
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore

Progress = Callable[[str], None]
REPLAY_SEED = 20260105


@dataclass(frozen=True)
class ReplayPlan:
    """How the later part of the data is replayed and when its outcomes arrive."""

    api: ApiVersion = "v1"
    train_share: float = 0.6
    weeks: int = 6
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: windows align with weeks
    batch_size: int = 100
    min_delay_days: int = 7
    max_delay_days: int = 27
    # v2 only: this share of outcomes is sent with the customer reference alone.
    customer_ref_only_share: float = 0.25

    @property
    def end(self) -> datetime:
        return self.start + timedelta(weeks=self.weeks)

    @property
    def now(self) -> datetime:
        """When the evaluation runs: the morning after the last replayed week."""
        return self.end + timedelta(hours=6)


@dataclass
class ScenarioResult:
    plan: ReplayPlan
    workdir: Path
    archive: Path
    registry: Path
    model_version: str
    train_rows: int
    replay_rows: int
    label_files: list[Path]
    ingestion: list[IngestionResult]
    summary: RunSummary
    timings: dict[str, float] = field(default_factory=dict)


def split_by_order(dataset: BankDataset, train_share: float) -> tuple[BankDataset, BankDataset]:
    """The first ``train_share`` of rows in file (date) order, and the rest."""
    cut = int(len(dataset) * train_share)
    return dataset.take(np.arange(cut)), dataset.take(np.arange(cut, len(dataset)))


def train_early(early: BankDataset, api: ApiVersion, out_dir: Path, progress: Progress) -> Path:
    """Train on the earlier rows only (the time-ordered comparison split is skipped: it would
    fit a second model that this scenario does not use)."""
    from propensity.training.train import train_bundle  # scikit-learn: only where training happens

    return train_bundle(early, api, out_dir, progress=progress, with_time_split=False).bundle_path


def _flat_columns(dataset: BankDataset, api: ApiVersion) -> dict[str, list[Any]]:
    from propensity.features.translate import v1_columns_to_v2_flat

    return dataset.columns if api == "v1" else v1_columns_to_v2_flat(dataset.columns)


def replay_events(bundle: Bundle, late: BankDataset, plan: ReplayPlan) -> list[PredictionEvent]:
    """Score the later rows in request-sized batches and build one PredictionEvent per row."""
    columns = _flat_columns(late, plan.api)
    names = list(columns)
    rows = len(late)
    step = timedelta(weeks=plan.weeks) / rows
    model = bundle.model
    events: list[PredictionEvent] = []
    for first in range(0, rows, plan.batch_size):
        chunk = {name: values[first : first + plan.batch_size] for name, values in columns.items()}
        started = time.perf_counter()
        matrix = model.matrix(chunk)
        prepared = time.perf_counter()
        scores = model.decide(model.probability(matrix))
        scored = time.perf_counter()
        latency = PhaseLatency(
            validation_ms=0.0,  # the replay sends valid rows; the service's validation is not exercised
            preprocessing_ms=(prepared - started) * 1000,
            inference_ms=(scored - prepared) * 1000,
            serialization_ms=0.0,
        )
        request_id = str(uuid.UUID(int=(REPLAY_SEED << 32) + first))
        moment = plan.start + step * first
        size = len(scores.probability)
        for offset in range(size):
            index = first + offset
            events.append(
                PredictionEvent(
                    prediction_id=f"replay-{plan.api}-{index:06d}",
                    request_id=request_id,
                    timestamp=moment,
                    api_version=plan.api,
                    model_version=bundle.version,
                    consumer="replay",
                    customer_ref=f"cust-{index:06d}" if plan.api == "v2" else None,
                    features={name: chunk[name][offset] for name in names},
                    probability=float(scores.probability[offset]),
                    decision="yes" if scores.decision[offset] else "no",
                    threshold=model.threshold,
                    confidence=str(scores.confidence[offset]),  # type: ignore[arg-type]
                    batch_size=size,
                    latency=latency,
                )
            )
    return events


def replay_through_service(
    bundle: Bundle, late: BankDataset, plan: ReplayPlan, staging: Path
) -> list[PredictionEvent]:
    """v2: the later rows posted to the service's batch endpoint as a consumer would send them.

    Returns the events the service archived, in row order, moved onto the replay's calendar.
    """
    from fastapi.testclient import TestClient

    from propensity.archive.reader import iter_object_events
    from propensity.features.translate import v1_to_v2
    from propensity.service.app import create_app
    from propensity.service.settings import ServiceSettings

    settings = ServiceSettings(
        api_versions=("v2",),
        model_dir_v2=bundle.path,
        archive_dir=staging,
        metrics_flush="off",
        events_to_stdout=False,
    )
    records = late.records()
    ids: list[str] = []
    with TestClient(create_app(settings)) as client:
        for first in range(0, len(records), plan.batch_size):
            body = {
                "records": [
                    {**v1_to_v2(record), "customer_ref": f"cust-{first + offset:06d}"}
                    for offset, record in enumerate(records[first : first + plan.batch_size])
                ]
            }
            response = client.post("/v2/predict/batch", json=body)
            if response.status_code != 200:
                raise RuntimeError(
                    f"the service refused a replay batch: {response.status_code} {response.text[:300]}"
                )
            results = response.json()["results"]
            failed = [r for r in results if "prediction_id" not in r]
            if failed:
                raise RuntimeError(f"the service rejected replayed records: {failed[:3]}")
            ids.extend(r["prediction_id"] for r in results)
    store = LocalArchiveStore(staging)
    archived = {
        e.prediction_id: e for key in store.list("predictions/") for e in iter_object_events(store, key)
    }
    step = timedelta(weeks=plan.weeks) / len(records)
    return [
        archived[pid].model_copy(update={"timestamp": plan.start + step * (index - index % plan.batch_size)})
        for index, pid in enumerate(ids)
    ]


def service_available() -> bool:
    """Whether the service app can be imported here (it needs FastAPI)."""
    try:
        import fastapi.testclient  # noqa: F401

        import propensity.service.app  # noqa: F401
    except ImportError:
        return False
    return True


def write_archive(events: list[PredictionEvent], archive: Path) -> None:
    """Write events hour by hour in the archive layout (as the local server does)."""
    writer = LocalArchiveWriter(archive)
    by_hour: dict[datetime, list[PredictionEvent]] = {}
    for event in events:
        by_hour.setdefault(event.timestamp.replace(minute=0, second=0, microsecond=0), []).append(event)
    for hour in sorted(by_hour):
        writer.write(by_hour[hour])


def outcome_dates(events: list[PredictionEvent], plan: ReplayPlan) -> list[date]:
    """When each prediction's outcome becomes known: 7 to 27 days later (fixed seed)."""
    rng = np.random.default_rng(REPLAY_SEED)
    delays = rng.integers(plan.min_delay_days, plan.max_delay_days + 1, size=len(events))
    return [(e.timestamp + timedelta(days=int(d))).date() for e, d in zip(events, delays, strict=True)]


def write_label_files(
    events: list[PredictionEvent], target: npt.NDArray[np.int8], plan: ReplayPlan, labels_dir: Path
) -> list[Path]:
    """The real outcomes known at ``plan.now``, one file per week of outcome dates.

    v1: CSV with prediction ids. v2: JSON lines, a share of them with the customer reference only.
    """
    dates = outcome_dates(events, plan)
    rng = np.random.default_rng(REPLAY_SEED + 1)
    ref_only = rng.random(len(events)) < plan.customer_ref_only_share
    weekly: dict[date, list[dict[str, str]]] = {}
    for i, (event, day) in enumerate(zip(events, dates, strict=True)):
        if day > plan.now.date():
            continue
        row = {
            "prediction_id": event.prediction_id,
            "outcome": "yes" if target[i] else "no",
            "outcome_date": str(day),
        }
        if plan.api == "v2" and event.customer_ref is not None:
            row["customer_ref"] = event.customer_ref
            if ref_only[i]:
                del row["prediction_id"]
        weekly.setdefault(day - timedelta(days=day.weekday()), []).append(row)
    labels_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for week, rows in sorted(weekly.items()):
        if plan.api == "v1":
            path = labels_dir / f"outcomes-{week}.csv"
            buffer = io.StringIO()
            writer = csv.DictWriter(
                buffer, fieldnames=["prediction_id", "outcome", "outcome_date"], lineterminator="\n"
            )
            writer.writeheader()
            writer.writerows(rows)
            path.write_text(buffer.getvalue())
        else:
            path = labels_dir / f"outcomes-{week}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        files.append(path)
    return files


def run_scenario(
    dataset: BankDataset,
    workdir: Path,
    plan: ReplayPlan | None = None,
    *,
    bundle_path: Path | None = None,
    thresholds: EvaluationThresholds | None = None,
    progress: Progress = lambda _message: None,
    with_plots: bool = True,
) -> ScenarioResult:
    """Train (unless ``bundle_path`` is given), replay, drop outcomes, ingest, evaluate."""
    plan = plan or ReplayPlan()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    early, late = split_by_order(dataset, plan.train_share)
    if bundle_path is None:
        progress(
            f"training {plan.api} on the first {len(early)} rows "
            f"(subscription rate {early.target.mean():.1%})"
        )
        bundle_path = train_early(
            early, plan.api, Path(tempfile.mkdtemp(dir=workdir, prefix="bundles-")), progress
        )
    timings["train_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    registry = Registry(LocalBlobStore(workdir / "registry"))
    manifest = registry.register(bundle_path)
    if registry.alias(plan.api, "champion") != manifest.model_version:
        registry.set_alias(
            plan.api, "champion", manifest.model_version, reason="replay scenario", actor="scenario"
        )
    bundle = registry.load(plan.api, manifest.model_version, workdir / "bundle-cache")
    progress(
        f"replaying {len(late)} later rows (subscription rate {late.target.mean():.1%}) "
        f"over {plan.weeks} weeks"
    )
    if plan.api == "v2" and service_available():
        events = replay_through_service(bundle, late, plan, workdir / "service-archive")
    else:
        events = replay_events(bundle, late, plan)
    archive = workdir / "archive"
    write_archive(events, archive)
    timings["replay_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    files = write_label_files(events, late.target, plan, archive / LABELS_PREFIX)
    store = LocalArchiveStore(archive)
    ingestion = ingest_all(store, now=plan.now)
    progress(
        f"dropped {len(files)} label files; ingested {sum(r.record.accepted for r in ingestion)} outcomes"
    )
    timings["labels_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    summary = run_evaluation(
        store,
        DuckDBEngine(archive),
        ManifestBaselines(RegistryManifests(registry)),
        LocalMetricsPublisher(archive / "evaluation" / "metrics.jsonl"),
        thresholds or EvaluationThresholds(),
        now=plan.now,
        windows=windows_between(plan.start, plan.end, (thresholds or EvaluationThresholds()).window_days),
        with_plots=with_plots,
    )
    timings["evaluate_s"] = time.perf_counter() - clock
    return ScenarioResult(
        plan=plan,
        workdir=workdir,
        archive=archive,
        registry=workdir / "registry",
        model_version=manifest.model_version,
        train_rows=len(early),
        replay_rows=len(late),
        label_files=files,
        ingestion=ingestion,
        summary=summary,
        timings=timings,
    )

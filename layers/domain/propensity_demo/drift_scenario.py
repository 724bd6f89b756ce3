"""The replay scenario: a model trained on the early data meets the later data as live traffic.

The Bank Marketing file is in date order and drifts strongly (contact type, month and the
previous-campaign fields change their mix; the subscription rate climbs). This module

1. trains a v2 bundle on the first ``train_share`` of rows (file order) and registers it as
   champion in a local registry under ``workdir``;
2. replays the remaining rows, split into ``hours`` consecutive slices, through the local
   service app itself (``propensity.service.app.create_app``, ``POST /v2/predict/batch`` in
   batches of 1,000, each row translated from v1 with the project's translator), so the
   events are the service's own PredictionEvents;
3. files each slice's events under its own synthetic hour of the archive: the service
   stamps events with the wall clock, and the replay squeezes hours of traffic into seconds,
   so each event keeps everything the service wrote except its timestamp, which is moved
   into the slice's hour (in the order the service answered);
4. runs the drift job over those hours and writes the per-hour and daily reports.

``propensity drift-demo`` runs it; the integration test asserts what it finds against the
data itself.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from propensity.archive.hours import HOUR
from propensity.archive.layout import LocalArchiveWriter
from propensity.archive.reader import ReadStats, iter_object_events
from propensity.archive.store import LocalArchiveStore
from propensity.constants import MAX_BATCH_RECORDS
from propensity.data.loader import BankDataset, load_bank_marketing
from propensity.drift.job import DriftJob
from propensity.drift.publish import LocalMetricsPublisher
from propensity.drift.report import render_html
from propensity.drift.results import WindowResult
from propensity.drift.runtime import ManifestReferences
from propensity.drift.state import DailyResult
from propensity.events import PredictionEvent
from propensity.features.translate import v1_to_v2
from propensity.query.duckdb_engine import DuckDBEngine
from propensity.registry.manifests import RegistryManifests
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore

Progress = Callable[[str], None]
SCENARIO_START = datetime(2026, 11, 26, 8, tzinfo=UTC)


@dataclass
class ScenarioOutcome:
    """What the replay produced."""

    workdir: Path
    model_version: str
    train_rows: int
    replay_rows: int
    hours: list[datetime]
    slices: list[tuple[int, int]]  # [first, last) row of the later part replayed in each hour
    results: list[WindowResult]
    daily: DailyResult | None
    report_path: Path
    replayed_through: str
    timings: dict[str, float] = field(default_factory=dict)


def split_by_order(dataset: BankDataset, train_share: float) -> tuple[BankDataset, BankDataset]:
    """The first ``train_share`` of rows in file (date) order, and the rest."""
    if not 0.1 <= train_share <= 0.9:
        raise ValueError(f"train_share must be between 0.1 and 0.9, got {train_share}")
    cut = int(len(dataset) * train_share)
    return dataset.take(np.arange(cut)), dataset.take(np.arange(cut, len(dataset)))


def hour_slices(rows: int, hours: int) -> list[tuple[int, int]]:
    """``hours`` consecutive, nearly equal row ranges covering ``rows``."""
    if hours < 1:
        raise ValueError("hours must be at least 1")
    edges = np.linspace(0, rows, hours + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in pairwise(edges)]


def replay_through_service(
    bundle_path: Path, records: list[dict[str, Any]], staging: Path
) -> list[PredictionEvent]:
    """POST ``records`` (v1 rows) to the local service's v2 batch endpoint; the events it archived."""
    from fastapi.testclient import TestClient

    from propensity.service.app import create_app
    from propensity.service.settings import ServiceSettings

    settings = ServiceSettings(
        api_versions=("v2",),
        model_dir_v2=bundle_path,
        archive_dir=staging,
        events_to_stdout=False,
        metrics_flush="request",
    )
    # The service's EMF metrics go to stdout; a replay of thousands of rows would drown the output.
    with contextlib.redirect_stdout(io.StringIO()), TestClient(create_app(settings)) as client:
        for first in range(0, len(records), MAX_BATCH_RECORDS):
            batch = [v1_to_v2(r) for r in records[first : first + MAX_BATCH_RECORDS]]
            response = client.post("/v2/predict/batch", json={"records": batch})
            if response.status_code != 200:
                raise RuntimeError(
                    f"the service refused a replay batch: {response.status_code} {response.text[:300]}"
                )
    store, stats = LocalArchiveStore(staging), ReadStats()
    events = [e for info in store.list_objects("") for e in iter_object_events(store, info.key, stats)]
    if stats.bad_lines or len(events) != len(records):
        raise RuntimeError(
            f"the service archived {len(events)} events for {len(records)} rows ({stats.bad_lines} bad)"
        )
    return events


def restamp(events: list[PredictionEvent], hour: datetime) -> list[PredictionEvent]:
    """The same events, spread over ``hour`` in the order the service answered them."""
    step = HOUR / max(len(events), 1)
    return [e.model_copy(update={"timestamp": hour + step * i}) for i, e in enumerate(events)]


def run_replay_scenario(
    workdir: Path,
    *,
    data: Path | None = None,
    dataset: BankDataset | None = None,
    train_share: float = 0.6,
    hours: int = 6,
    start: datetime = SCENARIO_START,
    progress: Progress | None = None,
    hourly_plots: bool = True,
) -> ScenarioOutcome:
    """Train on the early rows, replay the later ones through the service, run drift, write reports.

    The daily report always has its plots; ``hourly_plots=False`` leaves them out of the hourly
    reports (a hundred PNGs take a while to draw).
    """
    import time

    from propensity.training.train import train_bundle  # scikit-learn: only where training happens

    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    full = dataset if dataset is not None else load_bank_marketing(data)
    early, late = split_by_order(full, train_share)
    archive, registry_dir, reports = workdir / "archive", workdir / "registry", workdir / "reports"
    for folder in (archive, registry_dir / "models", reports):
        shutil.rmtree(folder, ignore_errors=True)  # a re-run starts from the same empty state
    reports.mkdir(parents=True, exist_ok=True)

    say(f"training v2 on the first {len(early)} rows")
    with tempfile.TemporaryDirectory(prefix="drift-demo-") as scratch:
        trained = train_bundle(early, "v2", Path(scratch), progress=say, with_time_split=False)
        registry = Registry(LocalBlobStore(registry_dir))
        manifest = registry.register(trained.bundle_path)
        if registry.alias("v2", "champion") != manifest.model_version:
            registry.set_alias(
                "v2", "champion", manifest.model_version, reason="drift demo", actor="drift-demo"
            )
        timings["train_s"] = time.perf_counter() - started

        started = time.perf_counter()
        records = late.records()
        slices = hour_slices(len(records), hours)
        hour_starts = [start + HOUR * i for i in range(hours)]
        writer = LocalArchiveWriter(archive)
        for (first, last), hour in zip(slices, hour_starts, strict=True):
            say(f"replaying rows {first}-{last} of the later part as {hour:%H}:00 UTC")
            staging = Path(scratch) / f"staging-{hour:%H}"
            events = replay_through_service(trained.bundle_path, records[first:last], staging)
            writer.write(restamp(events, hour))
        timings["replay_s"] = time.perf_counter() - started

    started = time.perf_counter()
    job = DriftJob(
        LocalArchiveStore(archive),
        DuckDBEngine(archive),
        ManifestReferences(RegistryManifests(registry)),
        LocalMetricsPublisher(workdir / "drift-metrics.jsonl"),
    )
    summary = job.run_hours(hour_starts, force=True)
    if summary.failed:
        raise RuntimeError(f"drift failed for {summary.failed}")
    results = [outcome.result for outcome in summary.computed]
    for result in results:
        (reports / f"drift-{result.start:%Y%m%dT%H}.html").write_text(render_html(result, plots=hourly_plots))
    daily = summary.daily[0] if len(summary.daily) == 1 else None
    report_path = reports / f"drift-{hour_starts[-1]:%Y%m%dT%H}.html"
    if daily is not None:
        report_path = reports / f"drift-{daily.day:%Y%m%d}-daily.html"
        report_path.write_text(render_html(daily))
    timings["drift_s"] = time.perf_counter() - started
    return ScenarioOutcome(
        workdir=workdir,
        model_version=manifest.model_version,
        train_rows=len(early),
        replay_rows=len(late),
        hours=hour_starts,
        slices=slices,
        results=results,
        daily=daily,
        report_path=report_path,
        replayed_through="the local service app (FastAPI, POST /v2/predict/batch)",
        timings=timings,
    )

"""The evaluation job: every window of the lookback, joined, computed, stored, published, reported.

Called by the weekly Lambda (``functions/evaluate``) and by ``propensity evaluate``. The
join and the counting run in the query engine (DuckDB locally, Athena in AWS); a window is
re-joined only when its archive objects or the outcome files that can touch it changed
(``evaluation.partials``), otherwise its stored cube is reused. It is idempotent: a window's
result is rewritten, never appended, so re-running a week changes nothing but ``computed_at``
unless new outcomes arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from propensity.archive.store import ArchiveStore
from propensity.constants import ApiVersion
from propensity.evaluation.baselines import BaselineSource
from propensity.evaluation.compute import evaluate_group
from propensity.evaluation.cube import file_cube
from propensity.evaluation.models import GroupResult, RunSummary, Window
from propensity.evaluation.partials import (
    OutcomeFile,
    Partial,
    PartialStore,
    ReadCounts,
    fingerprint_of,
    plain_rows,
    split_rows,
    window_hours,
)
from propensity.evaluation.publish import MetricsPublisher, metric_data
from propensity.evaluation.report import write_report
from propensity.evaluation.results import ResultStore
from propensity.evaluation.windows import as_utc, complete_windows
from propensity.observability import logger
from propensity.policy.evaluation import EvaluationThresholds
from propensity.query.engine import Engine
from propensity.query.sql import evaluation_cube, outcome_book


@dataclass
class _ModelTrack:
    """What earlier windows of one model tell later ones (history and CBPE distrust)."""

    history: list[GroupResult]
    distrust: str | None = None

    def conversions_before(self, window: Window, count: int) -> list[float]:
        earlier = [
            r.business.conversion_rate
            for r in self.history
            if r.window.start < window.start
            and r.signals.judged
            and r.business
            and r.business.conversion_rate is not None
        ]
        return earlier[-count:]

    def record(self, result: GroupResult, thresholds: EvaluationThresholds) -> None:
        self.history = [r for r in self.history if r.window.start != result.window.start] + [result]
        self.history.sort(key=lambda r: r.window.start)
        if result.coverage.labelled >= thresholds.min_labelled_rows and result.realised is not None:
            self.distrust = (
                f"calibration was off on the latest window with enough outcomes ({result.window.label}, "
                f"ECE {result.realised.ece:.3f}): concept drift persists until outcomes show otherwise"
                if result.estimated.trust == "untrusted"
                else None
            )


def _initial_track(
    results: ResultStore, api: ApiVersion, model: str, first: Window, thresholds: EvaluationThresholds
) -> _ModelTrack:
    track = _ModelTrack(history=results.history(api, model))
    for stored in track.history:
        if stored.window.start < first.start:
            track.record(stored, thresholds)
    return track


def _partial(
    store: ArchiveStore,
    engine: Engine,
    window: Window,
    files: list[OutcomeFile],
    partials: PartialStore,
    customer_outcomes: bool,
) -> tuple[Partial, bool]:
    """The window's cube: the stored one if nothing it depends on changed, else re-joined.

    ``customer_outcomes``: whether the outcome store holds customer-reference outcomes; when it
    holds none the query leaves that step out (same result, one pass).
    """
    fingerprint = fingerprint_of(store, window, files)
    stored = partials.load(window)
    if stored is not None and stored.fingerprint == fingerprint:
        return stored, False
    hours = window_hours(window)
    query = evaluation_cube(
        hours, as_utc(window.start), as_utc(window.end), customer_outcomes=customer_outcomes
    )
    rows, counts = split_rows(engine.run(query))
    partial = Partial(
        window=window,
        fingerprint=fingerprint,
        counts=counts,
        rows=plain_rows(rows),
    )
    partials.save(partial)
    return partial, True


def run_evaluation(
    store: ArchiveStore,
    engine: Engine,
    baselines: BaselineSource,
    publisher: MetricsPublisher,
    thresholds: EvaluationThresholds,
    now: datetime,
    windows: Sequence[Window] | None = None,
    with_plots: bool = True,
) -> RunSummary:
    """Evaluate ``windows`` (default: the lookback of complete windows before ``now``)."""
    run_at = as_utc(now)
    chosen = (
        list(windows)
        if windows
        else complete_windows(run_at, thresholds.window_days, thresholds.lookback_windows)
    )
    first_day = f"{as_utc(chosen[0].start):%Y-%m-%d}"
    rows = engine.run(outcome_book(first_day))
    files = [
        OutcomeFile(
            sha256=str(r["file_sha256"]),
            outcomes=int(r["outcomes"]),
            last_outcome_date=str(r["last_outcome_date"]),
        )
        for r in rows
        if r["part"] == "file" and r["file_sha256"] is not None
    ]
    book = next((r for r in rows if r["part"] == "summary"), {})
    results_store, partials = ResultStore(store), PartialStore(store)
    tracks: dict[tuple[ApiVersion, str], _ModelTrack] = {}
    results: list[GroupResult] = []
    keys: list[str] = []
    read = ReadCounts()
    rejoined = reused = labelled = by_customer = 0
    for window in chosen:
        partial, fresh = _partial(
            store, engine, window, files, partials, int(book.get("customer_rows") or 0) > 0
        )
        rejoined, reused = rejoined + fresh, reused + (not fresh)
        for name in ReadCounts.model_fields:
            setattr(read, name, getattr(read, name) + getattr(partial.counts, name))
        for (api, model), cube in file_cube(partial.rows).items():
            labelled += cube.overall.labelled
            by_customer += cube.overall.by_customer
            key = (api, model)
            track = tracks.get(key)  # type: ignore[arg-type]
            if track is None:
                track = tracks[key] = _initial_track(results_store, api, model, chosen[0], thresholds)  # type: ignore[index,arg-type]
            result = evaluate_group(
                cube,
                window,
                baseline=baselines.baseline(api, model),  # type: ignore[arg-type]
                history_conversion=track.conversions_before(window, thresholds.conversion_baseline_windows),
                inherited_distrust=track.distrust,
                thresholds=thresholds,
                computed_at=run_at,
            )
            track.record(result, thresholds)
            keys.append(results_store.save(result))
            results.append(result)

    in_span = int(book.get("ids_in_span") or 0) + int(book.get("customer_rows_in_span") or 0)
    unmatched = max(in_span - labelled, 0)
    data = metric_data(results, run_at)
    publisher.publish(data)
    notes = []
    if not results:
        notes.append("no predictions in the evaluated windows")
    if unmatched:
        notes.append(
            f"{unmatched} outcomes dated in the evaluated span match no prediction in it "
            "(unknown prediction ids, or predictions made before the span)"
        )
    if read.synthetic_events:
        notes.append(f"{read.synthetic_events} synthetic (probe and hook) events left out of the figures")
    summary = RunSummary(
        run_at=run_at,
        windows=chosen,
        events_read=read.window_events,
        duplicate_events=read.window_rows - read.window_events,
        bad_archive_lines=read.bad_lines,
        outcomes_loaded=int(book.get("ids") or 0) + int(book.get("customer_rows") or 0),
        outcome_files=len(files),
        outcome_duplicates=int(book.get("duplicates") or 0),
        outcome_conflicts=int(book.get("conflicts") or 0),
        labelled_by_customer_ref=by_customer,
        synthetic_events=read.synthetic_events,
        windows_rejoined=rejoined,
        windows_reused=reused,
        bytes_scanned=engine.log.bytes_scanned,
        unmatched_outcomes=unmatched,
        unmatched_examples=[],
        results=results,
        result_keys=keys,
        metrics_published=len(data),
        notes=notes,
    )
    summary = write_report(store, summary, results_store.all_history(), with_plots=with_plots)
    results_store.save_run(summary)
    logger.info(
        "evaluation run complete",
        extra={
            "windows": len(chosen),
            "rejoined": rejoined,
            "events": summary.events_read,
            "results": len(results),
            "metrics": summary.metrics_published,
            "report": summary.report_key,
            "warnings": [
                f"{r.api_version}/{r.model_version}/{r.window.label}"
                for r in results
                if r.signals.f1_warning or r.signals.conversion_warning
            ],
        },
    )
    return summary

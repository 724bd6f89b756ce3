"""The evaluation job: every window of the lookback, joined, computed, stored, published, reported.

Called by the weekly Lambda (``functions/evaluate``) and by ``propensity evaluate``. It is
idempotent: a window's result is rewritten, never appended, so re-running a week changes
nothing but ``computed_at`` unless new outcomes arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from propensity.archive.reader import ReadStats, iter_window_events
from propensity.archive.store import ArchiveStore
from propensity.constants import ApiVersion
from propensity.evaluation.baselines import BaselineSource
from propensity.evaluation.compute import evaluate_group
from propensity.evaluation.join import JoinStats, join_window
from propensity.evaluation.models import GroupResult, RunSummary, Window
from propensity.evaluation.publish import MetricsPublisher, metric_data
from propensity.evaluation.report import write_report
from propensity.evaluation.results import ResultStore
from propensity.evaluation.windows import as_utc, complete_windows
from propensity.labels.outcomes import OutcomeBook, load_outcomes
from propensity.observability import logger
from propensity.policy.evaluation import EvaluationThresholds

# Firehose files an event under the hour it arrives, a few minutes after its timestamp.
ARRIVAL_SLACK = timedelta(hours=1)
UNMATCHED_EXAMPLES = 10


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


def _unmatched(book: OutcomeBook, stats: JoinStats, span_start: datetime) -> list[str]:
    """Outcomes dated inside the evaluated span whose prediction is not in it.

    Most are predictions that were never archived (a wrong id, a lost event); outcomes of
    predictions made just before the span also land here, which the report says.
    """
    first_day = as_utc(span_start).date()
    missing = [
        pid
        for pid, outcome in book.by_prediction.items()
        if outcome.outcome_date >= first_day and pid not in stats.matched_ids
    ]
    missing += [
        f"customer_ref={ref}"
        for ref, outcomes in book.by_customer.items()
        for o in outcomes
        if o.outcome_date >= first_day
        and (o.file_sha256, o.source_row) not in stats.matched_customer_outcomes
    ]
    return sorted(missing)


def run_evaluation(
    store: ArchiveStore,
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
    book = load_outcomes(store)
    results_store = ResultStore(store)
    read_stats, join_stats = ReadStats(), JoinStats()
    tracks: dict[tuple[ApiVersion, str], _ModelTrack] = {}
    results: list[GroupResult] = []
    keys: list[str] = []
    for window in chosen:
        events = iter_window_events(store, window.start, window.end + ARRIVAL_SLACK, read_stats)
        for (api, model), rows in join_window(events, book, window, join_stats).items():
            track = tracks.get((api, model))
            if track is None:
                track = tracks[(api, model)] = _initial_track(
                    results_store, api, model, chosen[0], thresholds
                )
            result = evaluate_group(
                rows,
                window,
                baseline=baselines.baseline(api, model),
                history_conversion=track.conversions_before(window, thresholds.conversion_baseline_windows),
                inherited_distrust=track.distrust,
                thresholds=thresholds,
                computed_at=run_at,
            )
            track.record(result, thresholds)
            keys.append(results_store.save(result))
            results.append(result)

    unmatched = _unmatched(book, join_stats, chosen[0].start)
    data = metric_data(results, run_at)
    publisher.publish(data)
    notes = []
    if not results:
        notes.append("no predictions in the evaluated windows")
    if unmatched:
        notes.append(
            f"{len(unmatched)} outcomes dated in the evaluated span match no prediction in it "
            "(unknown prediction ids, or predictions made before the span)"
        )
    summary = RunSummary(
        run_at=run_at,
        windows=chosen,
        events_read=join_stats.events,
        duplicate_events=join_stats.duplicate_events,
        bad_archive_lines=read_stats.bad_lines,
        outcomes_loaded=len(book),
        outcome_files=book.files,
        outcome_duplicates=book.duplicates,
        outcome_conflicts=book.conflicts,
        labelled_by_customer_ref=join_stats.labelled_by_customer_ref,
        unmatched_outcomes=len(unmatched),
        unmatched_examples=unmatched[:UNMATCHED_EXAMPLES],
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

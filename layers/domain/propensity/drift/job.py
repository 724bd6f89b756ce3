"""The hourly drift job: which hours to (re)compute, computing one, and keeping progress.

Each run (EventBridge, hourly) works out the last complete hour: an hour is complete once
``settle_minutes`` have passed after it, long enough for Firehose's buffer to flush. It
then processes, oldest first, every hour after the watermark (catching up missed runs, at
most ``max_hours_per_run`` per run so a long outage is worked off over several runs), and
re-checks the ``recheck_hours`` before the watermark: Firehose files a delayed delivery
under the hour the data arrived in, so an old hour can still gain an object. An hour whose
objects (keys and etags) are unchanged since its stored result is skipped; a changed one
is recomputed from all its objects and replaces the stored result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, Field

from propensity.archive.hours import HOUR, floor_hour, hours_between
from propensity.archive.reader import hour_objects
from propensity.archive.store import ArchiveStore
from propensity.drift.metrics import window_points
from propensity.drift.publish import MetricsPublisher
from propensity.drift.results import SourceObject, WindowResult
from propensity.drift.state import DailyResult, DriftState
from propensity.drift.tally import tally_objects
from propensity.drift.window import ReferenceSource, window_result
from propensity.observability import logger
from propensity.policy.drift import DriftThresholds


class Schedule(BaseModel):
    """How the scheduled run picks its hours (not thresholds: those are ``DriftThresholds``)."""

    settle_minutes: Annotated[int, Field(ge=0, le=180)] = 20
    max_hours_per_run: Annotated[int, Field(ge=1, le=24 * 14)] = 48
    recheck_hours: Annotated[int, Field(ge=0, le=24 * 7)] = 24
    first_run_hours: Annotated[int, Field(ge=1, le=24 * 14)] = 24


@dataclass
class WindowOutcome:
    """One hour's outcome in a run."""

    start: datetime
    result: WindowResult
    recomputed: bool


@dataclass
class RunSummary:
    """What a run did: hours computed, skipped (unchanged), failed, and the watermark after it."""

    computed: list[WindowOutcome] = field(default_factory=list)
    unchanged: list[datetime] = field(default_factory=list)
    failed: dict[datetime, str] = field(default_factory=dict)
    watermark: datetime | None = None
    daily: list[DailyResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "computed": [o.start.isoformat() for o in self.computed],
            "unchanged": [h.isoformat() for h in self.unchanged],
            "failed": {h.isoformat(): reason for h, reason in self.failed.items()},
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "alerts": [a.message for o in self.computed for a in o.result.alerts],
        }


@dataclass
class DriftJob:
    """The drift job over one archive, with references, a metrics publisher and the policy."""

    store: ArchiveStore
    references: ReferenceSource
    publisher: MetricsPublisher
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    schedule: Schedule = field(default_factory=Schedule)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def state(self) -> DriftState:
        return DriftState(self.store)

    def run_hour(self, start: datetime, *, force: bool = False) -> WindowOutcome:
        """Compute one hour (skipped when its objects are unchanged, unless ``force``)."""
        start = floor_hour(start)
        previous = self.state.load_window(start)
        objects = hour_objects(self.store, start)
        sources = [SourceObject(key=o.key, size=o.size, etag=o.etag) for o in objects]
        if previous is not None and previous.sources == sources and not force:
            return WindowOutcome(start, previous, recomputed=False)
        tally = tally_objects(self.store, objects)
        result = window_result(start, start + HOUR, tally, self.references, self.thresholds, self.clock())
        # Store first, then publish: a crash in between re-publishes the same gauges on the next
        # run (harmless), never publishes figures that were not kept.
        self.state.save_window(result)
        self.publisher.publish(window_points(result))
        for alert in result.alerts:
            logger.warning(
                "drift alert", extra={"tier": alert.tier, "code": alert.code, "alert": alert.message}
            )
        return WindowOutcome(start, result, recomputed=True)

    def run_hours(self, hours: list[datetime], *, force: bool = False) -> RunSummary:
        """Compute the given hours (e.g. a backfill), then rebuild their days' aggregates."""
        summary = RunSummary(watermark=self._watermark())
        for hour in sorted(set(map(floor_hour, hours))):
            self._run_one(hour, force, summary)
        self._rebuild_days(summary)
        return summary

    def run_due(self, now: datetime | None = None) -> RunSummary:
        """The scheduled run: recheck recent hours, catch up from the watermark, advance it."""
        moment = now or self.clock()
        last_complete = floor_hour(moment - timedelta(minutes=self.schedule.settle_minutes)) - HOUR
        watermark = self._watermark()
        summary = RunSummary(watermark=watermark)
        if watermark is None:
            first = last_complete - (self.schedule.first_run_hours - 1) * HOUR
            recheck: list[datetime] = []
        else:
            first = watermark + HOUR
            recheck = hours_between(watermark - (self.schedule.recheck_hours - 1) * HOUR, watermark + HOUR)
            recheck = recheck if self.schedule.recheck_hours else []
        for hour in recheck:
            # Only hours with a stored result: a re-check does not extend history backwards.
            if self.state.load_window(hour) is not None:
                self._run_one(hour, False, summary)
        due = hours_between(first, last_complete + HOUR)[: self.schedule.max_hours_per_run]
        for hour in due:
            if not self._run_one(hour, False, summary):
                break  # keep the watermark before the failed hour: the next run retries it
            self.state.save_watermark(hour, self.clock())
            summary.watermark = hour
        self._rebuild_days(summary)
        return summary

    def _watermark(self) -> datetime | None:
        mark = self.state.load_watermark()
        return floor_hour(mark.hour) if mark else None

    def _run_one(self, hour: datetime, force: bool, summary: RunSummary) -> bool:
        try:
            outcome = self.run_hour(hour, force=force)
        except Exception as error:  # one bad hour must not stop the others from being reported
            logger.exception("drift window failed", extra={"hour": hour.isoformat()})
            summary.failed[hour] = f"{type(error).__name__}: {error}"
            return False
        if outcome.recomputed:
            summary.computed.append(outcome)
        else:
            summary.unchanged.append(hour)
        return True

    def _rebuild_days(self, summary: RunSummary) -> None:
        days: set[date] = {o.start.date() for o in summary.computed}
        for day in sorted(days):
            summary.daily.append(self.state.rebuild_daily(day, self.thresholds, self.clock()))

"""The hourly drift job: which hours to (re)compute, computing one, and keeping progress.

Each run (EventBridge, hourly) works out the last complete hour: an hour is complete once
``settle_minutes`` have passed after it, long enough for Firehose's buffer to flush. It
then processes, oldest first, every hour after the watermark (catching up missed runs, at
most ``max_hours_per_run`` per run so a long outage is worked off over several runs), and
re-checks the ``recheck_hours`` before the watermark: Firehose files a delayed delivery
under the hour the data arrived in, so an old hour can still gain an object. An hour whose
objects (keys and etags) are unchanged since its stored result is skipped; a changed one
is recomputed from all its objects and replaces the stored result.

The counting is SQL run by the query engine (DuckDB locally, Athena in AWS): the hours a run
must compute are counted in one pass over the archive (two queries), not one per hour.
Publishing is idempotent: a marker per hour records the digest of what was published, so a
re-run (``--force`` included) publishes an hour's metrics again only when its figures changed.
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
from propensity.drift.aggregates import HourCounts, count_hours
from propensity.drift.metrics import window_points
from propensity.drift.publish import MetricsPublisher
from propensity.drift.results import SourceObject, WindowResult
from propensity.drift.state import DailyResult, DriftState, points_digest
from propensity.drift.window import ReferenceSource, window_result
from propensity.observability import logger
from propensity.policy.drift import DriftThresholds
from propensity.query.engine import Engine


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
    published: list[datetime] = field(default_factory=list)
    already_published: list[datetime] = field(default_factory=list)
    watermark: datetime | None = None
    daily: list[DailyResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "computed": [o.start.isoformat() for o in self.computed],
            "unchanged": [h.isoformat() for h in self.unchanged],
            "failed": {h.isoformat(): reason for h, reason in self.failed.items()},
            "published": [h.isoformat() for h in self.published],
            "already_published": [h.isoformat() for h in self.already_published],
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "alerts": [a.message for o in self.computed for a in o.result.alerts],
        }


class FutureTimeError(ValueError):
    """A run was asked to pretend it is later than the clock (the watermark would pass it)."""


# A clock skew this small between the caller and the job is not "the future".
CLOCK_TOLERANCE = timedelta(minutes=1)


@dataclass
class DriftJob:
    """The drift job over one archive, with a query engine, references, a publisher and the policy."""

    store: ArchiveStore
    engine: Engine
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
        summary = RunSummary()
        self._compute([floor_hour(start)], force, summary)
        if summary.failed:
            raise RuntimeError(next(iter(summary.failed.values())))
        if summary.computed:
            return summary.computed[0]
        previous = self.state.load_window(floor_hour(start))
        assert previous is not None
        return WindowOutcome(floor_hour(start), previous, recomputed=False)

    def _compute(self, hours: list[datetime], force: bool, summary: RunSummary) -> set[datetime]:
        """Compute the changed (or forced) hours in one engine pass; the hours that succeeded."""
        changed: dict[datetime, list[SourceObject]] = {}
        done: set[datetime] = set()
        for hour in hours:
            try:
                sources = [
                    SourceObject(key=o.key, size=o.size, etag=o.etag) for o in hour_objects(self.store, hour)
                ]
            except Exception as error:  # a listing failure fails that hour only
                logger.exception("drift listing failed", extra={"hour": hour.isoformat()})
                summary.failed[hour] = f"{type(error).__name__}: {error}"
                continue
            previous = self.state.load_window(hour)
            if previous is not None and previous.sources == sources and not force:
                summary.unchanged.append(hour)
                self._publish(previous, summary)
                done.add(hour)
            else:
                changed[hour] = sources
        if not changed:
            return done
        counted = self._count(list(changed), summary)
        for hour, sources in sorted(changed.items()):
            if hour not in counted:
                continue
            result = window_result(
                hour, hour + HOUR, counted[hour], self.references, self.thresholds, self.clock(), sources
            )
            # Store first, then publish: a crash in between publishes on the next run (the
            # marker is written after publishing), never figures that were not kept.
            self.state.save_window(result)
            self._publish(result, summary)
            for alert in result.alerts:
                logger.warning(
                    "drift alert", extra={"tier": alert.tier, "code": alert.code, "alert": alert.message}
                )
            summary.computed.append(WindowOutcome(hour, result, recomputed=True))
            done.add(hour)
        return done

    def _count(self, hours: list[datetime], summary: RunSummary) -> dict[datetime, HourCounts]:
        """All hours in one engine pass; if that fails, hour by hour, so one damaged object
        (a truncated gzip member) fails its own hour only and the others go on."""
        try:
            return count_hours(self.engine, hours)
        except Exception as error:
            if len(hours) == 1:
                logger.exception("drift query failed", extra={"hour": hours[0].isoformat()})
                summary.failed[hours[0]] = f"{type(error).__name__}: {error}"
                return {}
        counted: dict[datetime, HourCounts] = {}
        for hour in hours:
            counted.update(self._count([hour], summary))
        return counted

    def _publish(self, result: WindowResult, summary: RunSummary) -> None:
        """Publish an hour's metrics unless exactly these were published for it before."""
        points = window_points(result)
        digest = points_digest(points)
        if self.state.published_digest(result.start) == digest:
            summary.already_published.append(result.start)
            return
        self.publisher.publish(points)
        self.state.save_published(result.start, digest, self.clock())
        summary.published.append(result.start)

    def run_hours(self, hours: list[datetime], *, force: bool = False) -> RunSummary:
        """Compute the given hours (e.g. a backfill), then rebuild their days' aggregates."""
        summary = RunSummary(watermark=self._watermark())
        chosen = sorted(set(map(floor_hour, hours)))
        future = [h for h in chosen if h + HOUR > self.clock() + CLOCK_TOLERANCE]
        if future:
            raise FutureTimeError(f"hour {future[0]:%Y-%m-%dT%H} has not ended yet")
        self._compute(chosen, force, summary)
        self._rebuild_days(summary)
        return summary

    def run_due(self, now: datetime | None = None) -> RunSummary:
        """The scheduled run: recheck recent hours, catch up from the watermark, advance it.

        ``now`` is the run's moment to the minute (a run at 10:20 with 20 settle minutes
        processes 09:00-10:00); a ``now`` later than the clock is refused.
        """
        clock = self.clock()
        moment = now or clock
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if moment > clock + CLOCK_TOLERANCE:
            raise FutureTimeError(f"now={moment.isoformat()} is later than the clock ({clock.isoformat()})")
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
        # Only hours with a stored result: a re-check does not extend history backwards.
        recheck = [hour for hour in recheck if self.state.load_window(hour) is not None]
        due = hours_between(first, last_complete + HOUR)[: self.schedule.max_hours_per_run]
        done = self._compute(recheck + [h for h in due if h not in recheck], False, summary)
        for hour in due:
            if hour not in done:
                break  # keep the watermark before the failed hour: the next run retries it
            summary.watermark = hour
        if summary.watermark is not None and summary.watermark != watermark:
            self.state.save_watermark(summary.watermark, self.clock())
        summary.computed.sort(key=lambda o: o.start)
        self._rebuild_days(summary)
        return summary

    def _watermark(self) -> datetime | None:
        mark = self.state.load_watermark()
        return floor_hour(mark.hour) if mark else None

    def _rebuild_days(self, summary: RunSummary) -> None:
        days: set[date] = {o.start.date() for o in summary.computed}
        for day in sorted(days):
            summary.daily.append(self.state.rebuild_daily(day, self.thresholds, self.clock()))

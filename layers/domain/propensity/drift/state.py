"""Where the drift job keeps its results and progress, next to the archive.

    drift/windows/YYYY/MM/DD/HH.json   one result per hour, replaced when the hour is recomputed
    drift/daily/YYYY/MM/DD.json        the sum of that day's hours, rebuilt from them every time
    drift/watermark.json               the last hour up to which every hour has been processed
    drift/published/YYYY/MM/DD/HH.json the digest of the metrics published for the hour (idempotence)

Replacing (never appending) is what makes re-running an hour safe: the hour's counts are
overwritten, and the daily aggregate is recomputed from the hours, so nothing is counted twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, Field

from propensity.archive.store import ArchiveStore
from propensity.drift.publish import MetricPoint
from propensity.drift.results import GroupDrift, WindowResult, merge_groups
from propensity.policy.drift import DriftThresholds

DRIFT_PREFIX = "drift/"
WATERMARK_KEY = f"{DRIFT_PREFIX}watermark.json"


def window_key(start: datetime) -> str:
    return f"{DRIFT_PREFIX}windows/{start.astimezone(UTC):%Y/%m/%d/%H}.json"


def published_key(start: datetime) -> str:
    return f"{DRIFT_PREFIX}published/{start.astimezone(UTC):%Y/%m/%d/%H}.json"


def points_digest(points: Sequence[MetricPoint]) -> str:
    """A digest of what an hour publishes (names, values, dimensions, time).

    Values enter with 9 significant digits: a parallel engine may add the same doubles in
    another order, and a last-bit difference is not a new figure.
    """
    canonical = json.dumps(
        sorted(json.dumps(p.as_json() | {"value": f"{p.value:.9g}"}, sort_keys=True) for p in points)
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class PublishedMarker(BaseModel):
    """The metrics of ``hour`` with this digest were published at ``published_at``."""

    hour: datetime
    digest: str
    published_at: datetime


def daily_key(day: date) -> str:
    return f"{DRIFT_PREFIX}daily/{day:%Y/%m/%d}.json"


class Watermark(BaseModel):
    """Every hour up to and including ``hour`` has a stored result."""

    hour: datetime
    updated_at: datetime


class DailyResult(BaseModel):
    """A day's drift: each model version's hours added up and judged as one window."""

    day: date
    computed_at: datetime
    hours: list[datetime] = Field(default_factory=list)
    events: int = 0
    bad_lines: int = 0
    groups: list[GroupDrift] = Field(default_factory=list)


class DriftState:
    """Read and write the job's results and watermark in an ``ArchiveStore``."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    def load_window(self, start: datetime) -> WindowResult | None:
        try:
            return WindowResult.model_validate_json(self.store.get(window_key(start)))
        except KeyError:
            return None

    def save_window(self, result: WindowResult) -> None:
        self.store.put(window_key(result.start), result.model_dump_json(indent=1).encode())

    def windows_of_day(self, day: date) -> list[WindowResult]:
        prefix = f"{DRIFT_PREFIX}windows/{day:%Y/%m/%d}/"
        return [WindowResult.model_validate_json(self.store.get(key)) for key in self.store.list(prefix)]

    def published_digest(self, start: datetime) -> str | None:
        try:
            return PublishedMarker.model_validate_json(self.store.get(published_key(start))).digest
        except KeyError:
            return None

    def save_published(self, start: datetime, digest: str, now: datetime) -> None:
        marker = PublishedMarker(hour=start, digest=digest, published_at=now)
        self.store.put(published_key(start), marker.model_dump_json().encode())

    def load_watermark(self) -> Watermark | None:
        try:
            return Watermark.model_validate_json(self.store.get(WATERMARK_KEY))
        except KeyError:
            return None

    def save_watermark(self, hour: datetime, now: datetime) -> None:
        self.store.put(WATERMARK_KEY, Watermark(hour=hour, updated_at=now).model_dump_json().encode())

    def rebuild_daily(self, day: date, thresholds: DriftThresholds, now: datetime) -> DailyResult:
        """Recompute and store the day's aggregate from its stored hours."""
        windows = self.windows_of_day(day)
        by_group: dict[tuple[str, str], list[GroupDrift]] = {}
        for window in windows:
            for group in window.groups:
                by_group.setdefault((group.api_version, group.model_version), []).append(group)
        daily = DailyResult(
            day=day,
            computed_at=now,
            hours=[w.start for w in windows],
            events=sum(w.events for w in windows),
            bad_lines=sum(w.bad_lines for w in windows),
            groups=[merge_groups(groups, thresholds) for _, groups in sorted(by_group.items())],
        )
        self.store.put(daily_key(day), daily.model_dump_json(indent=1).encode())
        return daily

    def load_daily(self, day: date) -> DailyResult | None:
        try:
            return DailyResult.model_validate_json(self.store.get(daily_key(day)))
        except KeyError:
            return None

    def daily_range(self, first: date, last: date) -> list[DailyResult]:
        """Stored daily aggregates from ``first`` to ``last`` (inclusive), for trending."""
        days, day = [], first
        while day <= last:
            found = self.load_daily(day)
            if found is not None:
                days.append(found)
            day += timedelta(days=1)
        return days


def as_json(result: WindowResult | DailyResult) -> str:
    """A compact summary line for logs (the full result is in the store)."""
    groups = [
        {
            "api": g.api_version,
            "model": g.model_version,
            "events": g.events,
            "judged": g.judged,
            "max_psi": None if g.max_psi is None else round(g.max_psi, 4),
            "alerts": [a.message for a in g.alerts],
        }
        for g in result.groups
    ]
    return json.dumps({"events": result.events, "bad_lines": result.bad_lines, "groups": groups})

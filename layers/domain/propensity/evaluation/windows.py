"""Evaluation windows: fixed-length, aligned to Monday 00:00 UTC, re-evaluated while labels arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from propensity.evaluation.models import Window

# Windows are aligned to this Monday so that the weekly job always sees the same boundaries.
ANCHOR = datetime(1970, 1, 5, tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window_containing(moment: datetime, days: int) -> Window:
    """The aligned window of ``days`` that contains ``moment``."""
    period = timedelta(days=days)
    utc = as_utc(moment)
    start = ANCHOR + ((utc - ANCHOR) // period) * period
    return Window(start=start, end=start + period)


def complete_windows(now: datetime, days: int, count: int) -> list[Window]:
    """The ``count`` latest windows that ended at or before ``now``, oldest first."""
    current = window_containing(now, days)
    period = timedelta(days=days)
    return [
        Window(start=current.start - k * period, end=current.start - (k - 1) * period)
        for k in range(count, 0, -1)
    ]


def windows_between(start: datetime, end: datetime, days: int) -> list[Window]:
    """Aligned windows overlapping ``[start, end)``, oldest first (for explicit re-runs)."""
    if as_utc(end) <= as_utc(start):
        raise ValueError(f"empty range: {start} .. {end}")
    windows = [window_containing(start, days)]
    while windows[-1].end < as_utc(end):
        last = windows[-1]
        windows.append(Window(start=last.end, end=last.end + (last.end - last.start)))
    return windows

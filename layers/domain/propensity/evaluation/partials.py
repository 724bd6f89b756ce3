"""Incremental evaluation: each window's joined cube, stored with what it was computed from.

::

    evaluation/partials/<window-start>.json   the window's cube rows, read counts and fingerprint

A window is re-joined only when its fingerprint changes: the archive objects of its hours
(keys and etags, late Firehose deliveries included) or the accepted outcome files that can
hold one of its outcomes (a file whose latest outcome date is before the window cannot). A
re-join recomputes the window from every object and every outcome and replaces the stored
cube, so a late label counts once: it changes the window's counts, never adds to them twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from pydantic import BaseModel, Field

from propensity.archive.hours import HOUR, floor_hour
from propensity.archive.store import ArchiveStore
from propensity.evaluation.models import Window
from propensity.evaluation.windows import as_utc
from propensity.query.engine import Row

PARTIALS_PREFIX: Final[str] = "evaluation/partials/"
# Firehose files an event under the hour it arrives, a few minutes after its timestamp.
ARRIVAL_SLACK = timedelta(hours=1)


class OutcomeFile(BaseModel):
    sha256: str
    outcomes: int
    last_outcome_date: str


class Fingerprint(BaseModel):
    """What a window's cube depends on."""

    sources: list[tuple[str, str]] = Field(default_factory=list)  # (key, etag) of archive objects
    outcome_files: list[str] = Field(default_factory=list)  # sha256 of the outcome files that may apply


class ReadCounts(BaseModel):
    bad_lines: int = 0
    synthetic_events: int = 0
    window_rows: int = 0
    window_events: int = 0


class Partial(BaseModel):
    """A window's cube as the engine returned it."""

    window: Window
    fingerprint: Fingerprint
    counts: ReadCounts
    rows: list[dict[str, Any]]


def window_hours(window: Window) -> list[Any]:
    """The archive hours that can hold the window's events."""
    hour, stop, hours = floor_hour(as_utc(window.start)), as_utc(window.end) + ARRIVAL_SLACK, []
    while hour < stop:
        hours.append(hour)
        hour += HOUR
    return hours


def fingerprint_of(store: ArchiveStore, window: Window, files: list[OutcomeFile]) -> Fingerprint:
    """The window's current fingerprint (listing one prefix per day, not per hour)."""
    hours = window_hours(window)
    wanted = {f"predictions/{h:%Y/%m/%d/%H}/" for h in hours}
    sources = []
    for day in sorted({f"predictions/{h:%Y/%m/%d}/" for h in hours}):
        for info in store.list_objects(day):
            if info.key[: len("predictions/YYYY/MM/DD/HH/")] in wanted:
                sources.append((info.key, info.etag))
    first_day = f"{as_utc(window.start):%Y-%m-%d}"
    relevant = sorted(f.sha256 for f in files if f.last_outcome_date >= first_day)
    return Fingerprint(sources=sorted(sources), outcome_files=relevant)


def partial_key(window: Window) -> str:
    return f"{PARTIALS_PREFIX}{as_utc(window.start):%Y-%m-%dT%H}.json"


class PartialStore:
    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    def load(self, window: Window) -> Partial | None:
        try:
            return Partial.model_validate_json(self.store.get(partial_key(window)))
        except KeyError:
            return None

    def save(self, partial: Partial) -> None:
        self.store.put(partial_key(partial.window), partial.model_dump_json().encode())


def split_rows(rows: list[Row]) -> tuple[list[Row], ReadCounts]:
    """``evaluation_cube``'s result as the cube's rows and what the scan read.

    ``window_events`` (distinct prediction ids in the window) is the whole-group rows' total:
    the cube counts each prediction id once.
    """
    cube = [{k: v for k, v in row.items() if k not in _READ_COLUMNS} for row in rows if row["part"] == "cube"]
    [read] = [row for row in rows if row["part"] == "read_counts"]
    counts = ReadCounts(
        bad_lines=int(read["bad_lines"] or 0),
        synthetic_events=int(read["synthetic_events"] or 0),
        window_rows=int(read["window_rows"] or 0),
        window_events=sum(int(row["events"]) for row in cube if row["family"] == "all"),
    )
    return cube, counts


_READ_COLUMNS = frozenset({"part", "bad_lines", "synthetic_events", "window_rows"})


def plain_rows(rows: list[Row]) -> list[dict[str, Any]]:
    """Rows as JSON values (the engine may return Decimal or numpy numbers)."""
    return [
        {k: (v if v is None or isinstance(v, str | bool | int | float) else float(v)) for k, v in r.items()}
        for r in rows
    ]

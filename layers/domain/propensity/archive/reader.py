"""Read archived PredictionEvents, from a folder or S3 alike.

Files are gzip JSON lines. A file may hold several gzip members (the local writer appends
one per write; Firehose may too) and ``gzip`` reads them as one stream. Files are streamed
in chunks of lines, never loaded whole, so an hour of a busy service fits in memory.

Firehose's CloudWatch Logs message extraction puts one log message per line; should two
messages ever arrive glued together (``{...}{...}``), ``split_objects`` still recovers both.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from propensity.archive.hours import hours_between
from propensity.archive.layout import hour_prefix
from propensity.archive.store import ArchiveStore, ObjectInfo
from propensity.events import PredictionEvent

CHUNK_BYTES = 4 * 1024 * 1024
# CloudWatch Logs checks a new subscription destination with a control message; with message
# extraction on, its text could reach the archive. It is not an event, and not an error.
CONTROL_MESSAGE_PREFIX = b"CWL CONTROL MESSAGE"
_DECODER = json.JSONDecoder()


def is_control_message(line: bytes) -> bool:
    """A CloudWatch Logs control message rather than a log line."""
    return line.lstrip().startswith(CONTROL_MESSAGE_PREFIX)


def hour_objects(store: ArchiveStore, hour: datetime) -> list[ObjectInfo]:
    """The archive objects of one UTC hour, sorted by key."""
    return store.list_objects(hour_prefix(hour))


def window_objects(store: ArchiveStore, start: datetime, end: datetime) -> list[ObjectInfo]:
    """The archive objects of every hour in ``[start, end)``."""
    return [info for hour in hours_between(start, end) for info in hour_objects(store, hour)]


def iter_line_chunks(store: ArchiveStore, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[list[bytes]]:
    """Non-empty lines of one object, in chunks of about ``chunk_bytes`` (gzip when the key ends .gz)."""
    with store.open_read(key) as raw:
        stream: Any = gzip.GzipFile(fileobj=raw, mode="rb") if key.endswith(".gz") else raw
        try:
            while True:
                lines = stream.readlines(chunk_bytes)
                if not lines:
                    return
                yield [line for line in lines if not line.isspace()]
        finally:
            if stream is not raw:
                stream.close()


def split_objects(line: bytes) -> list[Any]:
    """Every JSON value on one line (normally one; several if they were glued together).

    Raises ``ValueError`` when the line is not JSON at all.
    """
    text = line.decode("utf-8").strip()
    values, position = [], 0
    while position < len(text):
        value, end = _DECODER.raw_decode(text, position)
        values.append(value)
        position = end
        while position < len(text) and text[position].isspace():
            position += 1
    return values


@dataclass
class ReadStats:
    """What a reader saw: lines, events, and the lines it had to skip (with a few examples)."""

    lines: int = 0
    events: int = 0
    bad_lines: int = 0
    examples: list[str] = field(default_factory=list)

    def reject(self, line: bytes, reason: str) -> None:
        self.bad_lines += 1
        if len(self.examples) < 5:
            self.examples.append(f"{reason}: {line[:120]!r}")


def parse_events(line: bytes, stats: ReadStats) -> list[PredictionEvent]:
    """Validated PredictionEvents on one line; bad content is counted in ``stats``, never raised."""
    stats.lines += 1
    if is_control_message(line):
        return []
    try:
        values = split_objects(line)
    except ValueError as error:
        stats.reject(line, f"not JSON ({error})")
        return []
    events = []
    for value in values:
        try:
            events.append(PredictionEvent.model_validate(value))
        except ValidationError as error:
            stats.reject(line, f"not a PredictionEvent ({error.error_count()} errors)")
    stats.events += len(events)
    return events


def iter_object_events(
    store: ArchiveStore, key: str, stats: ReadStats | None = None
) -> Iterator[PredictionEvent]:
    """The PredictionEvents of one archive object (validated; bad lines skipped and counted)."""
    tally = stats if stats is not None else ReadStats()
    for chunk in iter_line_chunks(store, key):
        for line in chunk:
            yield from parse_events(line, tally)


def iter_window_events(
    store: ArchiveStore, start: datetime, end: datetime, stats: ReadStats | None = None
) -> Iterator[PredictionEvent]:
    """The PredictionEvents archived in the hours ``[start, end)``."""
    for info in window_objects(store, start, end):
        yield from iter_object_events(store, info.key, stats)

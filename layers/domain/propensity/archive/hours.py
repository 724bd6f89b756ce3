"""UTC hours: the unit of the archive layout, of drift windows and of the watermark."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from propensity.constants import ARCHIVE_PREDICTIONS_PREFIX

HOUR = timedelta(hours=1)
_KEY_HOUR = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour containing ``moment`` (naive datetimes are taken as UTC)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.replace(minute=0, second=0, microsecond=0)


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Hour starts ``h`` with ``start <= h < end`` after flooring ``start``; empty if ``end <= start``."""
    stop = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    hour, hours = floor_hour(start), []
    while hour < stop:
        hours.append(hour)
        hour += HOUR
    return hours


def parse_hour(text: str) -> datetime:
    """``2026-11-26T10``, ``2026-11-26T10:00`` or any ISO time: the UTC hour it falls in."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}", value):
        value += ":00"
    try:
        return floor_hour(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError as error:
        raise ValueError(f"not an hour: {text!r} (expected e.g. 2026-11-26T10)") from error


def hour_of_key(key: str, root: str = ARCHIVE_PREDICTIONS_PREFIX) -> datetime | None:
    """The hour an archive key belongs to (``predictions/YYYY/MM/DD/HH/...``), or ``None``."""
    if not key.startswith(root):
        return None
    match = _KEY_HOUR.match(key, len(root))
    if match is None:
        return None
    year, month, day, hour = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, tzinfo=UTC)


def parse_time(text: str) -> datetime:
    """An ISO time to the minute (``2026-11-26T10:20``; naive means UTC), not floored to its hour."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise ValueError(f"not a time: {text!r} (expected e.g. 2026-11-26T10:20)") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

"""``propensity v1-usage``: who still calls v1, how often, and when last (for v1's sunset).

Reads the archive's v1 PredictionEvents (``predictions/``) and RejectedRequest records
(``rejections/``, see ``service.core.rejections``): both are calls a consumer made, answered
or refused. Probe and deployment-hook traffic (``synthetic``) is left out. The consumer is
the name the service resolved from the API key (``unknown`` for an unmapped key, ``(no key)``
without one).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from propensity.archive.reader import iter_line_chunks, split_objects
from propensity.archive.store import ArchiveStore, open_archive
from propensity.cli import command
from propensity.constants import ARCHIVE_PREDICTIONS_PREFIX, EVENT_LOG_MARKER
from propensity.service.core.rejections import ARCHIVE_REJECTIONS_PREFIX, REJECTION_LOG_MARKER

NO_KEY: Final[str] = "(no key)"


@dataclass
class ConsumerUsage:
    calls: int = 0
    rejected: int = 0
    last_seen: datetime | None = None
    per_day: Counter[date] = field(default_factory=Counter)


@dataclass
class UsageReport:
    """v1 calls per consumer over ``days`` days ending ``until``."""

    since: date
    until: date
    consumers: dict[str, ConsumerUsage] = field(default_factory=dict)
    synthetic: int = 0
    unreadable: int = 0

    @property
    def total(self) -> int:
        return sum(c.calls for c in self.consumers.values())

    def add(self, record: dict[str, Any], rejected: bool) -> None:
        if record.get("api_version") != "v1":
            return
        if record.get("synthetic"):
            self.synthetic += 1
            return
        try:
            moment = datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).astimezone(UTC)
        except (KeyError, ValueError):
            self.unreadable += 1
            return
        if not self.since <= moment.date() <= self.until:
            return
        usage = self.consumers.setdefault(str(record.get("consumer") or NO_KEY), ConsumerUsage())
        usage.calls += 1
        usage.rejected += int(rejected)
        usage.per_day[moment.date()] += 1
        if usage.last_seen is None or moment > usage.last_seen:
            usage.last_seen = moment

    def lines(self) -> list[str]:
        if not self.consumers:
            return [f"no v1 calls between {self.since} and {self.until}"]
        ranked = sorted(self.consumers.items(), key=lambda item: (-item[1].calls, item[0]))
        width = max(12, *(len(name) for name in self.consumers))
        out = [
            f"v1 calls {self.since} to {self.until} (UTC): {self.total}",
            f"{'consumer':<{width}}  {'calls':>8}  {'rejected':>8}  {'share':>6}  last seen",
        ]
        for name, usage in ranked:
            seen = usage.last_seen.strftime("%Y-%m-%d %H:%M") if usage.last_seen else "-"
            share = usage.calls / self.total
            out.append(f"{name:<{width}}  {usage.calls:>8}  {usage.rejected:>8}  {share:>6.1%}  {seen}")
        days = sorted({d for _, usage in ranked for d in usage.per_day})
        out.append("")
        out.append(f"{'day':<10}  " + "  ".join(f"{name:>{max(len(name), 6)}}" for name, _ in ranked))
        for day in days:
            cells = "  ".join(f"{usage.per_day.get(day, 0):>{max(len(name), 6)}}" for name, usage in ranked)
            out.append(f"{day.isoformat():<10}  {cells}")
        if self.synthetic:
            out.append(f"(left out: {self.synthetic} synthetic probe/hook calls)")
        return out


def _day_prefixes(root: str, since: date, until: date) -> list[str]:
    days = (until - since).days + 1
    return [f"{root}{since + timedelta(days=n):%Y/%m/%d}/" for n in range(days)]


def v1_usage(store: ArchiveStore, days: int = 30, until: date | None = None) -> UsageReport:
    """Count the archive's v1 calls, answered and rejected, per consumer and day."""
    end = until or datetime.now(UTC).date()
    report = UsageReport(since=end - timedelta(days=days - 1), until=end)
    for root, marker, rejected in (
        (ARCHIVE_PREDICTIONS_PREFIX, EVENT_LOG_MARKER, False),
        (ARCHIVE_REJECTIONS_PREFIX, REJECTION_LOG_MARKER, True),
    ):
        for prefix in _day_prefixes(root, report.since, report.until):
            for info in store.list_objects(prefix):
                for chunk in iter_line_chunks(store, info.key):
                    for line in chunk:
                        try:
                            values = split_objects(line)
                        except (ValueError, UnicodeDecodeError):
                            report.unreadable += 1
                            continue
                        for value in values:
                            if isinstance(value, dict) and value.get("event") == marker:
                                report.add(value, rejected)
    return report


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive", default=None, help="archive folder or s3://bucket[/prefix] (.local/archive)"
    )
    parser.add_argument("--days", type=int, default=30, help="days to look back, today included (default 30)")
    parser.add_argument(
        "--until", type=date.fromisoformat, default=None, help="last day (default today, UTC)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


@command(
    "v1-usage", "v1 calls per consumer per day, last seen, share of traffic (sunset planning)", _configure
)
def _v1_usage(args: argparse.Namespace) -> int:
    if args.days < 1:
        print("error: --days must be at least 1")
        return 2
    report = v1_usage(open_archive(args.archive), args.days, args.until)
    if args.json:
        document = {
            "since": report.since.isoformat(),
            "until": report.until.isoformat(),
            "total": report.total,
            "consumers": {
                name: {
                    "calls": u.calls,
                    "rejected": u.rejected,
                    "share": u.calls / report.total,
                    "last_seen": u.last_seen.isoformat() if u.last_seen else None,
                    "per_day": {d.isoformat(): n for d, n in sorted(u.per_day.items())},
                }
                for name, u in report.consumers.items()
            },
        }
        print(json.dumps(document, indent=2))
    else:
        for line in report.lines():
            print(line)
    return 0

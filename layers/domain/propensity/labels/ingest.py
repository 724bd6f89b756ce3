"""Ingest dropped label files into content-addressed outcome objects (see ``layout``).

Order of writes for one file: accepted rows, rejects, then the ingestion record, created
only if absent. The record is what marks a content as ingested; a crash before it leaves
objects that a retry rewrites with the same keys, so nothing is ever counted twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from propensity.archive.store import ArchiveStore
from propensity.labels.layout import (
    LABELS_PREFIX,
    accepted_key,
    file_format,
    is_label_file,
    record_key,
    rejects_key,
)
from propensity.labels.models import IngestionRecord, IngestionResult, Outcome, RejectedRow
from propensity.labels.parse import MAX_LABEL_TEXT_BYTES, ParsedFile, parse_label_file
from propensity.observability import logger
from propensity.registry.storage import BlobExistsError


class NotALabelFileError(ValueError):
    """The key is not under ``labels/`` or has an unsupported suffix."""


def rejects_csv(rejects: list[RejectedRow]) -> bytes:
    """The rejects file people open: line number, reason, the row as it was sent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "reason", "content"])
    for reject in rejects:
        writer.writerow([reject.row, reject.reason, reject.content])
    return buffer.getvalue().encode()


@dataclass(frozen=True)
class DroppedFile:
    """A dropped object read with a bound: its hash and size always, its bytes up to the limit."""

    data: bytes
    sha256: str
    size: int

    @property
    def oversized(self) -> bool:
        return self.size > len(self.data)


def read_bounded(store: ArchiveStore, key: str, limit: int = MAX_LABEL_TEXT_BYTES) -> DroppedFile:
    """Stream ``key``: hash all of it, keep at most ``limit`` bytes (a 2 GB drop must not be
    held in a 512 MB function). ``KeyError`` if it is absent."""
    digest = hashlib.sha256()
    kept = bytearray()
    size = 0
    with store.open_read(key) as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
            if len(kept) <= limit:
                kept += chunk[: limit + 1 - len(kept)]
    data = bytes(kept[:limit]) if size > limit else bytes(kept)
    return DroppedFile(data=data, sha256=digest.hexdigest(), size=size)


def read_record(store: ArchiveStore, sha256: str) -> IngestionRecord | None:
    """The ingestion record of a content, if that content was ingested."""
    try:
        return IngestionRecord.model_validate_json(store.get(record_key(sha256)))
    except KeyError:
        return None


def ingest_object(store: ArchiveStore, key: str, now: datetime | None = None) -> IngestionResult:
    """Validate and store one dropped label file; a content seen before is reported, not re-counted."""
    fmt = file_format(key)
    if not is_label_file(key) or fmt is None:
        raise NotALabelFileError(f"{key!r} is not a label file (expected {LABELS_PREFIX}*.csv or *.jsonl)")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    dropped = read_bounded(store, key)
    sha256 = dropped.sha256
    existing = read_record(store, sha256)
    if existing is not None:
        logger.info(
            "label file already ingested", extra={"key": key, "sha256": sha256, "first": existing.source_key}
        )
        return IngestionResult(key=key, duplicate=True, record=existing)

    if dropped.oversized:
        parsed = ParsedFile()
        reason = (
            f"file rejected: larger than the {MAX_LABEL_TEXT_BYTES:,}-byte limit ({dropped.size:,} bytes)"
        )
        parsed.rejects.append(RejectedRow(row=0, reason=reason, content=""))
    else:
        parsed = parse_label_file(key, dropped.data, fmt, today=moment.date())
    outcomes = [
        Outcome(
            prediction_id=row.prediction_id,
            customer_ref=row.customer_ref,
            outcome="yes" if row.outcome == "yes" else "no",
            outcome_date=row.outcome_date,
            file_sha256=sha256,
            source_key=key,
            source_row=row.row,
            ingested_at=moment,
        )
        for row in parsed.valid
    ]
    store.put(accepted_key(sha256), "".join(o.model_dump_json() + "\n" for o in outcomes).encode())
    reject_location = rejects_key(key, sha256) if parsed.rejects else None
    if reject_location is not None:
        store.put(reject_location, rejects_csv(parsed.rejects))
    record = IngestionRecord(
        sha256=sha256,
        source_key=key,
        file_format=fmt,
        ingested_at=moment,
        rows=parsed.rows,
        accepted=len(outcomes),
        rejected=len(parsed.rejects),
        accepted_key=accepted_key(sha256),
        rejects_key=reject_location,
        ignored_columns=parsed.ignored_columns,
    )
    try:
        store.put(record_key(sha256), record.model_dump_json(indent=2).encode(), create_only=True)
    except BlobExistsError:
        # A concurrent delivery of the same content won the race; its objects equal ours.
        winner = read_record(store, sha256)
        return IngestionResult(key=key, duplicate=True, record=winner or record)
    extra = {"key": key, "sha256": sha256, "accepted": record.accepted, "rejected": record.rejected}
    if record.fully_rejected:
        # Stored and reported, not retried: the same bytes would be rejected again.
        logger.error("label file rejected whole", extra={**extra, "reason": parsed.rejects[0].reason})
    else:
        logger.info("label file ingested", extra=extra)
    return IngestionResult(key=key, duplicate=False, record=record)


def pending_label_files(store: ArchiveStore) -> list[str]:
    """Every label file under ``labels/`` (ingested or not: ingestion itself skips known content)."""
    return [key for key in store.list(LABELS_PREFIX) if is_label_file(key)]


def ingest_all(store: ArchiveStore, now: datetime | None = None) -> list[IngestionResult]:
    """Ingest every label file in the store (what the local command and a catch-up run do)."""
    return [ingest_object(store, key, now) for key in pending_label_files(store)]

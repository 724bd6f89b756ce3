"""Wiring ingestion for the S3-triggered Lambda: settings parsed once, keys from the event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict

from propensity.archive.store import ArchiveStore, open_archive
from propensity.labels.ingest import ingest_object
from propensity.labels.layout import is_label_file
from propensity.labels.models import IngestionResult
from propensity.observability import logger


class LabelSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    archive_location: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LabelSettings:
        """``ARCHIVE_LOCATION``: the bucket (``s3://name``) the labels are dropped into."""
        if not env.get("ARCHIVE_LOCATION"):
            raise ValueError("label ingestion settings: missing environment variable ARCHIVE_LOCATION")
        return cls(archive_location=env["ARCHIVE_LOCATION"])


class LabelEventError(ValueError):
    """The invocation's event is not an S3 notification (a wrong trigger or a hand-made event).

    Raised, not ignored: the invocation fails, is retried and lands in the function's
    dead-letter queue, where someone sees it (``propensity labels-redrive`` reads that queue).
    """


class IngestionFailedError(RuntimeError):
    """Some objects could not be ingested; the others were. Raised so the invocation is retried
    (re-ingesting is idempotent) and, after retries, lands in the function's failure destination."""


def ingest_keys(store: ArchiveStore, keys: Sequence[str]) -> list[IngestionResult]:
    """Ingest each label file; one failing object never stops the others."""
    results, failures = [], []
    for key in keys:
        if not is_label_file(key):
            logger.warning("ignoring an object that is not a label file", extra={"key": key})
            continue
        try:
            results.append(ingest_object(store, key))
        except KeyError:
            # Deleted between the notification and now: nothing to ingest.
            logger.warning("label file vanished before ingestion", extra={"key": key})
        except Exception as error:  # reported below, with every other failure
            logger.exception("label file ingestion failed", extra={"key": key})
            failures.append(f"{key}: {error}")
    if failures:
        raise IngestionFailedError("; ".join(failures))
    return results


def ingest_response(results: Sequence[IngestionResult]) -> dict[str, Any]:
    return {
        "files": [
            {
                "key": r.key,
                "duplicate": r.duplicate,
                "accepted": r.record.accepted,
                "rejected": r.record.rejected,
                "rejects": r.record.rejects_key,
            }
            for r in results
        ]
    }


def open_label_store(settings: LabelSettings) -> ArchiveStore:
    return open_archive(settings.archive_location)


def keys_from_s3_event(event: Mapping[str, Any], settings: LabelSettings) -> list[str]:
    """Object keys of an S3 notification (URL-decoded) that belong to the configured bucket.

    Keys are relative to the configured location's prefix, as the store expects them.
    """
    location = settings.archive_location.removeprefix("s3://")
    bucket, _, prefix = location.partition("/")
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    keys = []
    for record in s3_records(event):
        # Keys arrive URL-encoded ("+" for spaces), as S3 notifications always send them.
        name, key = record["bucket"], unquote_plus(record["key"])
        if name != bucket or not key.startswith(prefix):
            logger.warning(
                "notification for another bucket or prefix ignored",
                extra={"bucket": name, "key": key[:1024], "configured": settings.archive_location},
            )
            continue
        keys.append(key[len(prefix) :])
    return keys


MAX_KEY_LENGTH = 1024  # S3's own limit on a key, in UTF-8 bytes


def s3_records(event: Any) -> list[dict[str, str]]:
    """Bucket and (still URL-encoded) key of each record; :class:`LabelEventError` otherwise.

    S3 sends ``{"Records": [...]}``; its ``s3:TestEvent`` (sent once when a notification is
    configured) has no records and is answered with none.
    """
    if not isinstance(event, Mapping):
        raise LabelEventError(f"expected an S3 notification object, got {type(event).__name__}")
    if event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise LabelEventError(f"not an S3 notification: no Records (keys: {sorted(map(str, event))[:10]})")
    found = []
    for index, record in enumerate(records):
        s3 = record.get("s3") if isinstance(record, Mapping) else None
        bucket = s3.get("bucket") if isinstance(s3, Mapping) else None
        obj = s3.get("object") if isinstance(s3, Mapping) else None
        name = bucket.get("name") if isinstance(bucket, Mapping) else None
        key = obj.get("key") if isinstance(obj, Mapping) else None
        if not isinstance(record, Mapping) or not str(record.get("eventSource", "aws:s3")).startswith(
            "aws:s3"
        ):
            raise LabelEventError(f"record {index} is not from S3")
        if not isinstance(name, str) or not isinstance(key, str) or not key:
            raise LabelEventError(f"record {index} has no s3.bucket.name and s3.object.key")
        if len(key.encode()) > 3 * MAX_KEY_LENGTH:  # URL-encoding at most triples a key
            raise LabelEventError(f"record {index}: key longer than S3 allows")
        found.append({"bucket": name, "key": key})
    return found

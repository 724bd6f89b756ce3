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
    from aws_lambda_powertools.utilities.data_classes import S3Event

    location = settings.archive_location.removeprefix("s3://")
    bucket, _, prefix = location.partition("/")
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    keys = []
    for record in S3Event(dict(event)).records:
        # Keys arrive URL-encoded ("+" for spaces), as S3 notifications always send them.
        key = unquote_plus(record.s3.get_object.key)
        if record.s3.bucket.name != bucket or not key.startswith(prefix):
            logger.warning(
                "notification for another bucket or prefix ignored",
                extra={"bucket": record.s3.bucket.name, "key": key, "configured": settings.archive_location},
            )
            continue
        keys.append(key[len(prefix) :])
    return keys

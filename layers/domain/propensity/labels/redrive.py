"""Redrive the labels function's dead-letter queue: ingest what it gave up on, once.

Each queued message is the S3 notification of a failed invocation (after Lambda's two
retries). Redriving ingests its keys here, with the same code the function runs; ingestion
is keyed by content, so a file that did get ingested before the failure is reported as a
duplicate rather than counted again. A message is deleted only when all its keys went in.
"""

from __future__ import annotations

from typing import Any

from propensity.archive.store import ArchiveStore
from propensity.deadletter import DeadLetter, RedriveSummary, redrive
from propensity.labels.runtime import LabelSettings, ingest_keys, keys_from_s3_event


def redrive_labels(
    sqs: Any, queue_url: str, store: ArchiveStore, settings: LabelSettings, *, limit: int = 100
) -> RedriveSummary:
    """Ingest the files of every queued notification; failures stay queued."""

    def ingest(letter: DeadLetter) -> None:
        ingest_keys(store, keys_from_s3_event(letter.event, settings))

    return redrive(sqs, queue_url, ingest, limit=limit)

"""PredictionEvents: built per scored record, written as one JSON line each.

In Lambda the line goes to stdout, unwrapped (not through the Powertools logger), so a
CloudWatch Logs subscription filtered on ``{ $.event = "PredictionEvent" }`` and Firehose's
message extraction deliver exactly ``PredictionEvent.model_dump_json()`` to the archive.
The local server appends the same events to a folder laid out like the S3 archive.

Events are built with ``model_construct``: every value was validated or computed by the
service a moment earlier, and full validation would cost more than the model's inference.
The tests validate emitted lines against ``PredictionEvent``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

import numpy as np

from propensity.archive.layout import LocalArchiveWriter
from propensity.constants import EVENT_LOG_MARKER, EVENT_SCHEMA_VERSION, ApiVersion
from propensity.events import PhaseLatency, PredictionEvent

_EVENT_FIELDS: Final = frozenset(PredictionEvent.model_fields)
_LATENCY_FIELDS: Final = frozenset(PhaseLatency.model_fields)


def new_prediction_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as strings; one call for the randomness of a batch."""
    if count == 1:
        return [str(uuid.uuid4())]
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = raw.tobytes().hex()
    ids = []
    for start in range(0, 32 * count, 32):
        h = digits[start : start + 32]
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


@dataclass(frozen=True)
class RequestInfo:
    """Who asked, and under which request id (API Gateway's, or a local uuid)."""

    request_id: str
    consumer: str | None
    received_at: datetime


def phase_latency(phases_ms: dict[str, float]) -> PhaseLatency:
    return PhaseLatency.model_construct(
        _fields_set=set(_LATENCY_FIELDS),
        validation_ms=phases_ms.get("validation", 0.0),
        preprocessing_ms=phases_ms.get("preprocessing", 0.0),
        inference_ms=phases_ms.get("inference", 0.0),
        serialization_ms=phases_ms.get("serialization", 0.0),
    )


@dataclass(frozen=True)
class ScoredRecord:
    """One record's part of an event (the rest is shared by the request)."""

    prediction_id: str
    features: dict[str, Any]
    probability: float
    decision: str
    confidence: str
    warnings: list[str]
    customer_ref: str | None = None


def build_events(
    records: Sequence[ScoredRecord],
    *,
    info: RequestInfo,
    api_version: ApiVersion,
    model_version: str,
    threshold: float,
    latency: PhaseLatency,
    batch_size: int,
) -> list[PredictionEvent]:
    """One PredictionEvent per scored record of a request."""
    template = PredictionEvent.model_construct(
        _fields_set=set(_EVENT_FIELDS),
        event=EVENT_LOG_MARKER,
        schema_version=EVENT_SCHEMA_VERSION,
        prediction_id="",
        request_id=info.request_id,
        timestamp=info.received_at,
        api_version=api_version,
        model_version=model_version,
        consumer=info.consumer,
        customer_ref=None,
        features={},
        probability=0.0,
        decision="no",
        threshold=threshold,
        confidence="low",
        warnings=[],
        batch_size=batch_size,
        latency=latency,
    )
    return [
        template.model_copy(
            update={
                "prediction_id": r.prediction_id,
                "customer_ref": r.customer_ref,
                "features": r.features,
                "probability": r.probability,
                "decision": r.decision,
                "confidence": r.confidence,
                "warnings": r.warnings,
            }
        )
        for r in records
    ]


class EventSink:
    """Where events go: stdout (the Lambda log stream) and, optionally, a local archive."""

    def __init__(self, to_stdout: bool, archive_dir: Path | None, stream: TextIO | None = None) -> None:
        self.to_stdout = to_stdout
        self.archive = LocalArchiveWriter(archive_dir) if archive_dir is not None else None
        self._stream = stream

    def emit(self, events: list[PredictionEvent]) -> None:
        if not events:
            return
        if self.to_stdout:
            stream = self._stream or sys.stdout  # looked up late: tests and runners swap stdout
            stream.write("".join(event.model_dump_json() + "\n" for event in events))
            stream.flush()
        if self.archive is not None:
            self.archive.write(events)


def now_utc() -> datetime:
    return datetime.now(UTC)

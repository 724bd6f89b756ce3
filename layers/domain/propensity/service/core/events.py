"""PredictionEvents: one compact JSON line per scored record, serialised without model objects.

In Lambda the line goes to stdout, unwrapped (not through the Powertools logger), so a
CloudWatch Logs subscription filtered on ``{ $.event = "PredictionEvent" }`` and Firehose's
message extraction deliver exactly the line to the archive.
The local server appends the same events to a folder laid out like the S3 archive.

Lines are written from plain dicts: every value was validated or computed by the service a
moment earlier, and a model object per record (built, copied, dumped) cost more than the
trees. The tests validate emitted lines against ``PredictionEvent``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import numpy as np

from propensity.constants import EVENT_LOG_MARKER, EVENT_SCHEMA_VERSION, ApiVersion
from propensity.service.core.http import RequestInfo, encode

if TYPE_CHECKING:
    from propensity.archive.layout import LocalArchiveWriter


def new_prediction_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as strings; one call for the randomness of a batch.

    A batch's ids are formatted as one numpy array of characters (hex digits into their
    slots, dashes between), then cut into strings: no Python formatting per id.
    """
    if count == 1:
        return [str(uuid.uuid4())]
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    nibbles = np.empty((count, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    text[:, _DIGIT_SLOTS] = _HEX_DIGITS[nibbles]
    ids = text.tobytes().decode("ascii")
    return [ids[start : start + 36] for start in range(0, 36 * count, 36)]


_HEX_DIGITS: Final = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DIGIT_SLOTS: Final = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])  # 8-4-4-4-12


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


def _timestamp(moment: datetime) -> str:
    # pydantic's datetime format (UTC as "Z"), so a line reads back to the same value.
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def shared_fields(
    *,
    info: RequestInfo,
    api_version: ApiVersion,
    model_version: str,
    threshold: float,
    phases_ms: dict[str, float],
    batch_size: int,
    experiment: str | None = None,
    arm: str | None = None,
) -> dict[str, Any]:
    """The fields every event line of a request shares. A field left at its default (no
    consumer, a batch of 1, not synthetic, no experiment) is left out, which
    ``PredictionEvent`` reads back as that default. Latencies keep microseconds.
    """
    shared: dict[str, Any] = {
        "request_id": info.request_id,
        "timestamp": _timestamp(info.received_at),
        "api_version": api_version,
        "model_version": model_version,
        "threshold": threshold,
        "latency": {f"{phase}_ms": round(phases_ms.get(phase, 0.0), 3) for phase in _PHASES},
    }
    if info.consumer is not None:
        shared["consumer"] = info.consumer
    if batch_size != 1:
        shared["batch_size"] = batch_size
    if info.synthetic:
        shared["synthetic"] = True
    if experiment is not None:
        shared["experiment"] = experiment
    if arm is not None:
        shared["arm"] = arm
    return shared


def event_lines(records: Sequence[ScoredRecord] | ScoredColumns, shared: Mapping[str, Any]) -> list[str]:
    """One compact PredictionEvent JSON line per scored record of a request; ``shared``
    (``shared_fields``) holds what every line of the request carries, serialised once."""
    if isinstance(records, ScoredColumns):
        return records.text(shared).split("\n")[:-1]
    tail = _encode(shared)[1:]  # '"request_id":...}' closes every line
    own = _own_fields(records)
    if not own:
        return []
    # One encoder call for every record, then cut at each record's first key: a quote inside a
    # string is escaped, so '},{"prediction_id":' cannot occur anywhere but between records.
    body = _encode(own)[len(_FIRST) : -2]
    return [f"{_HEAD}{_KEY}{piece},{tail}" for piece in body.split(_BETWEEN)]


def _own_fields(records: Sequence[ScoredRecord]) -> list[dict[str, Any]]:
    own: list[dict[str, Any]] = []
    for r in records:
        fields: dict[str, Any] = {
            "prediction_id": r.prediction_id,
            "probability": r.probability,
            "decision": r.decision,
            "confidence": r.confidence,
            "features": r.features,
        }
        if r.customer_ref is not None:
            fields["customer_ref"] = r.customer_ref
        if r.warnings:
            fields["warnings"] = r.warnings
        own.append(fields)
    return own


@dataclass(frozen=True)
class ScoredColumns:
    """A batch's scored records as columns (no object per record until the event dicts)."""

    prediction_ids: list[str]
    features: Mapping[str, list[Any]]  # flat name -> values
    probabilities: list[float]
    decisions: list[str]
    bands: list[str]
    warnings: list[list[str]]
    customer_refs: list[str | None]

    def text(self, shared: Mapping[str, Any]) -> str:
        """The records' event lines with the request's ``shared`` fields, each ending in a newline.

        Encoded by msgspec from the columns (``batch_json``, imported on the first batch):
        no dict per record, one encoder call for the batch, one string for the log stream.
        """
        if not self.prediction_ids:
            return ""
        from propensity.service.core.batch_json import encoded_lines

        return encoded_lines(
            self.prediction_ids,
            self.features,
            self.probabilities,
            self.decisions,
            self.bands,
            self.warnings,
            self.customer_refs,
            shared,
        )


_PHASES: Final = ("validation", "preprocessing", "inference", "serialization")
_HEAD: Final = f'{{"event":"{EVENT_LOG_MARKER}","schema_version":{EVENT_SCHEMA_VERSION},'
_KEY: Final = '"prediction_id":'
_FIRST: Final = "[{" + _KEY
_BETWEEN: Final = "},{" + _KEY
_encode = encode


class EventSink:
    """Where events go: stdout (the Lambda log stream) and, optionally, a local archive."""

    def __init__(self, to_stdout: bool, archive_dir: Path | None, stream: TextIO | None = None) -> None:
        self.to_stdout = to_stdout
        self.archive: LocalArchiveWriter | None = None
        if archive_dir is not None:  # the local server only: Lambda never imports the archive code
            from propensity.archive.layout import LocalArchiveWriter

            self.archive = LocalArchiveWriter(archive_dir)
        self._stream = stream

    def emit(self, lines: list[str] | str) -> None:
        """Write ``event_lines`` output (or ``ScoredColumns.text``: lines, each ending in a
        newline): one write to stdout, and the local archive if any."""
        if not lines:
            return
        if self.to_stdout:
            stream = self._stream or sys.stdout  # looked up late: tests and runners swap stdout
            stream.write(lines if isinstance(lines, str) else "\n".join(lines) + "\n")
            stream.flush()
        if self.archive is not None:  # the local server: validated back into events for the writer
            from propensity.events import PredictionEvent

            if isinstance(lines, str):
                lines = lines.split("\n")[:-1]
            self.archive.write([PredictionEvent.model_validate_json(line) for line in lines])

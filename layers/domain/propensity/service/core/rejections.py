"""Rejected v1 calls leave a compact record, so usage by consumer counts them too.

A ``RejectedRequest`` holds who, when, the status and the bounded reason and field labels:
never the body's values (they may be personal data). It is a separate record type with its
own marker and archive folder (``rejections/YYYY/MM/DD/HH/``), so the drift, shadow and
evaluation jobs, which read ``PredictionEvent`` lines under ``predictions/``, never see it.
In Lambda the line goes to the function's log stream, and a subscription filter of its own
sends it to a second Firehose stream that writes ``rejections/`` of the archive bucket
(``infra/constructs/archive.py``); the local server appends it to the local archive.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final, Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field

from propensity.constants import ApiVersion

REJECTION_LOG_MARKER: Final[str] = "RejectedRequest"
ARCHIVE_REJECTIONS_PREFIX: Final[str] = "rejections/"
REJECTION_SCHEMA_VERSION: Final[int] = 1


class RejectedRequest(BaseModel):
    """One refused call: no body values, only bounded labels."""

    # Built on the first refused call: a cold start that scores never needs it.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    event: Literal["RejectedRequest"] = "RejectedRequest"  # REJECTION_LOG_MARKER
    schema_version: int = REJECTION_SCHEMA_VERSION
    request_id: str
    timestamp: datetime
    api_version: ApiVersion
    consumer: Annotated[str | None, Field(description="Consumer name; null without an API key")] = None
    status: Annotated[int, Field(ge=400, le=499)]
    reason: Annotated[str, Field(description="Bounded label, e.g. validation, malformed_json")]
    fields: Annotated[list[str], Field(description="Offending fields (bounded metric labels)")] = []


class RejectionSink:
    """stdout (the Lambda log stream) and, optionally, ``rejections/`` of a local archive."""

    def __init__(self, to_stdout: bool, archive_dir: Path | None, stream: TextIO | None = None) -> None:
        self.to_stdout = to_stdout
        self.archive_dir = archive_dir
        self._stream = stream
        self._lock = threading.Lock()
        self._tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def path_for(self, moment: datetime) -> Path:
        # The archive code (and the PredictionEvent model it imports) is the local server's
        # only: the Lambda path, which has no archive folder, never imports it.
        from propensity.archive.layout import hour_prefix

        assert self.archive_dir is not None
        return (
            self.archive_dir / hour_prefix(moment, ARCHIVE_REJECTIONS_PREFIX) / f"local-{self._tag}.jsonl.gz"
        )

    def emit(self, record: RejectedRequest) -> None:
        line = record.model_dump_json() + "\n"
        if self.to_stdout:
            stream = self._stream or sys.stdout
            stream.write(line)
            stream.flush()
        if self.archive_dir is not None:
            import gzip

            path = self.path_for(record.timestamp)
            with self._lock:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("ab") as handle:  # one gzip member per record: never a torn line
                    handle.write(gzip.compress(line.encode()))

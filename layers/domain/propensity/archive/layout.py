"""Archive layout shared by Firehose (S3), the local server (a folder) and every reader.

Firehose writes ``predictions/YYYY/MM/DD/HH/<name>.gz`` (UTC hour of arrival); the local
server writes the same layout, one file per process and hour, so the jobs read either alike.
"""

from __future__ import annotations

import gzip
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from propensity.constants import ARCHIVE_PREDICTIONS_PREFIX
from propensity.events import PredictionEvent


def hour_prefix(moment: datetime, root: str = ARCHIVE_PREDICTIONS_PREFIX) -> str:
    """``predictions/YYYY/MM/DD/HH/`` for the UTC hour containing ``moment``."""
    utc = moment.astimezone(UTC)
    return f"{root}{utc:%Y/%m/%d/%H}/"


class LocalArchiveWriter:
    """Appends PredictionEvents to gzip JSON-lines files in the archive layout on disk.

    Each (process, hour) gets its own file, and each write is a complete gzip member, so a
    crash never leaves a half-written line that readers would choke on (gzip readers accept
    concatenated members).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._process_tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def path_for(self, moment: datetime) -> Path:
        return self.root / hour_prefix(moment) / f"local-{self._process_tag}.jsonl.gz"

    def write(self, events: list[PredictionEvent]) -> None:
        if not events:
            return
        lines = "".join(event.model_dump_json() + "\n" for event in events).encode()
        path = self.path_for(events[0].timestamp)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                handle.write(gzip.compress(lines))

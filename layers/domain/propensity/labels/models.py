"""Stored shapes of ingestion: an accepted outcome, a rejected row, the per-file record."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from propensity.constants import Decision

# Same bounds as PredictionEvent.prediction_id, so every accepted id can match an event.
PredictionId = Annotated[str, Field(min_length=1, max_length=64)]
CustomerRef = Annotated[str, Field(min_length=1, max_length=128)]


class Outcome(BaseModel):
    """One known outcome: did the customer behind a prediction subscribe?"""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prediction_id: PredictionId | None = None
    customer_ref: CustomerRef | None = None
    outcome: Decision
    outcome_date: date
    # Provenance: which dropped file and row, when it was ingested (used to resolve duplicates).
    file_sha256: str
    source_key: str
    source_row: int
    ingested_at: datetime

    @property
    def subscribed(self) -> bool:
        return self.outcome == "yes"


class RejectedRow(BaseModel):
    """A row that was not kept, with the reason a person can act on."""

    row: Annotated[int, Field(description="1-based line number in the dropped file")]
    reason: str
    content: str


class IngestionRecord(BaseModel):
    """What ingesting one distinct file content produced (``outcomes/files/<sha256>.json``)."""

    sha256: str
    source_key: str
    file_format: str
    ingested_at: datetime
    rows: int
    accepted: int
    rejected: int
    accepted_key: str
    rejects_key: str | None
    ignored_columns: list[str] = Field(default_factory=list)

    @property
    def fully_rejected(self) -> bool:
        """Nothing kept: the file was unreadable, or every row of it was rejected."""
        return self.accepted == 0 and self.rejected > 0


class IngestionResult(BaseModel):
    """The answer for one dropped object: its record, and whether it was already ingested."""

    key: str
    duplicate: bool
    record: IngestionRecord

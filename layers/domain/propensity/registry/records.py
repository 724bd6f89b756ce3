"""Sealed, create-only records: the registry's only way to remember a decision.

A record is one JSON object under ``records/<kind>/<api>/<subject>/<name>.json``, written once
(``create_only``) and never edited. Its seal (``registry.signing``) covers every field, and the
reader checks that the record's own kind, API version, subject and name match the key it was
read from, so a valid record copied under another model version's name is refused as well.

Kinds used by the library: ``registration`` (one per model version: the manifest's SHA-256),
``gate`` (a verdict), ``approval`` (a person's sign-off), ``alias`` (an alias move); other
packages add their own kinds (experiments) through ``Registry.put_record``.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from propensity.constants import ApiVersion
from propensity.registry.signing import Seal, SealError, Signer, canonical

RECORDS_PREFIX = "records"
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


class RecordError(RuntimeError):
    """A record is unreadable, tampered with, forged, or stored under another record's name."""


class Record(BaseModel):
    """One sealed decision. ``body`` is the kind's own content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    api_version: ApiVersion
    subject: str  # a model version, an alias name, an experiment id
    name: str  # unique within (kind, api_version, subject)
    at: datetime
    actor: str
    body: dict[str, Any]
    seal: Seal

    @property
    def key(self) -> str:
        return record_key(self.kind, self.api_version, self.subject, self.name)

    def payload(self) -> bytes:
        return sealed_payload(self.model_dump(mode="json", exclude={"seal"}))


def sealed_payload(fields: dict[str, Any]) -> bytes:
    return canonical(fields)


def check_name(what: str, value: str, pattern: re.Pattern[str]) -> str:
    if not pattern.match(value):
        raise ValueError(f"{what} {value!r} is not a valid record {what} ({pattern.pattern})")
    return value


def record_prefix(kind: str, api_version: ApiVersion, subject: str | None = None) -> str:
    base = f"{RECORDS_PREFIX}/{check_name('kind', kind, KIND_PATTERN)}/{api_version}/"
    return base if subject is None else f"{base}{check_name('subject', subject, NAME_PATTERN)}/"


def record_key(kind: str, api_version: ApiVersion, subject: str, name: str) -> str:
    return f"{record_prefix(kind, api_version, subject)}{check_name('name', name, NAME_PATTERN)}.json"


def time_name(at: datetime) -> str:
    """A default record name: sortable by time, unique by a random suffix."""
    return f"{at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:12]}"


def new_record(
    signer: Signer,
    *,
    kind: str,
    api_version: ApiVersion,
    subject: str,
    body: dict[str, Any],
    actor: str,
    name: str | None = None,
    at: datetime | None = None,
) -> Record:
    when = at or datetime.now(UTC)
    fields = {
        "kind": check_name("kind", kind, KIND_PATTERN),
        "api_version": api_version,
        "subject": check_name("subject", subject, NAME_PATTERN),
        "name": check_name("name", name or time_name(when), NAME_PATTERN),
        "at": when,
        "actor": actor,
        "body": body,
    }
    unsealed = Record.model_validate({**fields, "seal": Seal(mode=signer.mode, value="")})
    payload = unsealed.payload()
    return unsealed.model_copy(update={"seal": signer.seal(payload)})


def reseal(record: Record, signer: Signer) -> Record:
    """The same record sealed by another signer (a sync into a registry with another key)."""
    return record.model_copy(update={"seal": signer.seal(record.payload())})


def parse_record(data: bytes, key: str, signer: Signer, location: str) -> Record:
    """Parse and verify a record read from ``key``; ``RecordError`` names the file and the reason."""
    where = f"{location.rstrip('/')}/{key}"
    try:
        record = Record.model_validate_json(data)
    except ValidationError as error:
        raise RecordError(f"{where} is not a valid registry record: {error.errors()[0]['msg']}") from error
    if record.key != key:
        raise RecordError(f"{where} holds the record {record.key}: a record copied under another name")
    try:
        signer.check(record.payload(), record.seal)
    except SealError as error:
        raise RecordError(f"{where} is refused: {error}") from error
    return record

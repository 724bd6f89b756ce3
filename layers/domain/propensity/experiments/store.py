"""Experiment records: issue 11's sealed, create-only registry records (kind ``experiment``).

Layout (``registry.records``: each record sealed, verified when read)::

    records/experiment/<api>/<sequence:06d>/start.json    the ExperimentRecord
    records/experiment/<api>/<sequence:06d>/end.json      the ExperimentEnd, once stopped

The sequence number is what makes "one experiment at a time per API version" safe without a
lock: a start claims the record named ``start`` of subject ``<n>`` create-only, and only after
every earlier one ended. Two concurrent starters compute the same ``n``; exactly one create
succeeds. A record edited in place fails its seal: reading it raises ``IntegrityError``.

Every write goes through ``create_record`` and every read through ``read_record``.
"""

from __future__ import annotations

import time
from typing import Final, TypeVar, cast

from pydantic import BaseModel, ValidationError

from propensity.constants import ApiVersion
from propensity.registry.records import RECORDS_PREFIX, record_prefix
from propensity.registry.registry import IntegrityError, Registry
from propensity.registry.storage import BlobExistsError

EXPERIMENT_KIND: Final[str] = "experiment"
EXPERIMENTS_PREFIX: Final[str] = f"{RECORDS_PREFIX}/{EXPERIMENT_KIND}/"
START_FILE: Final[str] = "start.json"
END_FILE: Final[str] = "end.json"
# A local create-only file is opened, then written: a reader can see it empty for an instant.
_READ_RETRIES: Final[int] = 5
_READ_BACKOFF_S: Final[float] = 0.05

Record = TypeVar("Record", bound=BaseModel)


class RecordExistsError(RuntimeError):
    """The record was already created (by someone else, or earlier)."""


def experiment_prefix(api: ApiVersion, sequence: int) -> str:
    return record_prefix(EXPERIMENT_KIND, api, f"{sequence:06d}")


def create_record(registry: Registry, key: str, record: BaseModel) -> None:
    """Seal and write ``record`` at ``key`` (from ``experiment_prefix``) once; ``RecordExistsError``
    if it exists."""
    _, kind, api, subject, file = key.split("/")
    try:
        registry.put_record(
            kind,
            cast(ApiVersion, api),
            subject,
            record.model_dump(mode="json"),
            name=file.removesuffix(".json"),
        )
    except BlobExistsError as error:
        raise RecordExistsError(key) from error


def read_record(registry: Registry, key: str, kind: type[Record]) -> Record | None:
    """The verified record at ``key``, or ``None`` when absent."""
    for attempt in range(_READ_RETRIES):
        try:
            data = registry.store.get(key)
        except KeyError:
            return None
        try:
            return kind.model_validate(registry.read_record(key).body)
        except KeyError:
            return None
        except (IntegrityError, ValidationError):
            if data.strip() and attempt == _READ_RETRIES - 1:
                raise
            time.sleep(_READ_BACKOFF_S * (attempt + 1))
    raise ValueError(f"experiment record {key} stayed empty or unreadable")


def sequences(registry: Registry, api: ApiVersion) -> list[int]:
    """Sequence numbers of every started experiment of ``api``, ascending."""
    found = set()
    for key in registry.store.list(f"{EXPERIMENTS_PREFIX}{api}/"):
        parts = key.split("/")
        if len(parts) == 5 and parts[4] == START_FILE and parts[3].isdigit():
            found.add(int(parts[3]))
    return sorted(found)


def end_exists(registry: Registry, api: ApiVersion, sequence: int) -> bool:
    """Cheap check (one stat or HEAD) used by the serving path to notice a stop."""
    return registry.store.exists(experiment_prefix(api, sequence) + END_FILE)

"""Experiment records in the registry's store, create-only.

Layout::

    experiments/<api>/<sequence:06d>/start.json    the ExperimentRecord
    experiments/<api>/<sequence:06d>/end.json      the ExperimentEnd, once stopped

The sequence number is what makes "one experiment at a time per API version" safe without a
lock: a start claims ``<n>/start.json`` create-only, and only after every earlier one ended.
Two concurrent starters compute the same ``n``; exactly one create succeeds.

INTEGRATION POINT (issue 11): every write goes through ``create_record`` and every read
through ``read_record``; when the registry gains its generic create-only record API, these two
functions are what changes.
"""

from __future__ import annotations

import time
from typing import Final, TypeVar

from pydantic import BaseModel, ValidationError

from propensity.constants import ApiVersion
from propensity.registry.registry import Registry
from propensity.registry.storage import BlobExistsError

EXPERIMENTS_PREFIX: Final[str] = "experiments/"
START_FILE: Final[str] = "start.json"
END_FILE: Final[str] = "end.json"
# A local create-only file is opened, then written: a reader can see it empty for an instant.
_READ_RETRIES: Final[int] = 5
_READ_BACKOFF_S: Final[float] = 0.05

Record = TypeVar("Record", bound=BaseModel)


class RecordExistsError(RuntimeError):
    """The record was already created (by someone else, or earlier)."""


def experiment_prefix(api: ApiVersion, sequence: int) -> str:
    return f"{EXPERIMENTS_PREFIX}{api}/{sequence:06d}/"


def create_record(registry: Registry, key: str, record: BaseModel) -> None:
    """Write ``record`` at ``key`` once; ``RecordExistsError`` if the key exists."""
    try:
        registry.store.put(key, record.model_dump_json(indent=2).encode(), create_only=True)
    except BlobExistsError as error:
        raise RecordExistsError(key) from error


def read_record(registry: Registry, key: str, kind: type[Record]) -> Record | None:
    """The record at ``key``, or ``None`` when absent."""
    for attempt in range(_READ_RETRIES):
        try:
            data = registry.store.get(key)
        except KeyError:
            return None
        try:
            return kind.model_validate_json(data)
        except ValidationError:
            if data.strip() and attempt == _READ_RETRIES - 1:
                raise
            time.sleep(_READ_BACKOFF_S * (attempt + 1))
    raise ValueError(f"experiment record {key} stayed empty or unreadable")


def sequences(registry: Registry, api: ApiVersion) -> list[int]:
    """Sequence numbers of every started experiment of ``api``, ascending."""
    found = set()
    for key in registry.store.list(f"{EXPERIMENTS_PREFIX}{api}/"):
        parts = key.split("/")
        if len(parts) == 4 and parts[3] == START_FILE and parts[2].isdigit():
            found.add(int(parts[2]))
    return sorted(found)


def end_exists(registry: Registry, api: ApiVersion, sequence: int) -> bool:
    """Cheap check (one stat or HEAD) used by the serving path to notice a stop."""
    return registry.store.exists(experiment_prefix(api, sequence) + END_FILE)

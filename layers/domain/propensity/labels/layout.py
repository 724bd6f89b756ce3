"""Where label files are dropped and where ingestion writes, in the archive bucket (or folder).

::

    labels/<anything>.csv | .jsonl | .ndjson (optionally .gz)   dropped by the business (input)
    outcomes/files/<sha256>.json      ingestion record, created once per distinct content
    outcomes/accepted/<sha256>.jsonl  the file's valid rows, normalised
    outcomes/rejects/<name>-<sha12>.csv   the file's invalid rows with the reason

Ingestion output lives outside ``labels/`` so that writing it can never trigger the S3
notification that starts ingestion. Everything is keyed by the SHA-256 of the dropped bytes:
the same content dropped again (under any name) maps to the same objects and is not counted
twice.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Final

from propensity.constants import ARCHIVE_LABELS_PREFIX

LABELS_PREFIX: Final[str] = ARCHIVE_LABELS_PREFIX
OUTCOMES_PREFIX: Final[str] = "outcomes/"
RECORDS_PREFIX: Final[str] = f"{OUTCOMES_PREFIX}files/"
ACCEPTED_PREFIX: Final[str] = f"{OUTCOMES_PREFIX}accepted/"
REJECTS_PREFIX: Final[str] = f"{OUTCOMES_PREFIX}rejects/"

CSV_SUFFIXES: Final[tuple[str, ...]] = (".csv",)
JSONL_SUFFIXES: Final[tuple[str, ...]] = (".jsonl", ".ndjson")
GZIP_SUFFIX: Final[str] = ".gz"
# What the S3 notification filters on (one notification per suffix; S3 matches suffixes).
LABEL_FILE_SUFFIXES: Final[tuple[str, ...]] = tuple(
    s + z for s in (*CSV_SUFFIXES, *JSONL_SUFFIXES) for z in ("", GZIP_SUFFIX)
)


def file_format(key: str) -> str | None:
    """``"csv"`` or ``"jsonl"`` for a label file key, ``None`` for anything else."""
    name = key.lower().removesuffix(GZIP_SUFFIX)
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


def is_label_file(key: str) -> bool:
    """A key under ``labels/`` with a supported suffix (folders and other files are ignored)."""
    return key.startswith(LABELS_PREFIX) and not key.endswith("/") and file_format(key) is not None


def record_key(sha256: str) -> str:
    return f"{RECORDS_PREFIX}{sha256}.json"


def accepted_key(sha256: str) -> str:
    return f"{ACCEPTED_PREFIX}{sha256}.jsonl"


def rejects_key(source_key: str, sha256: str) -> str:
    """Named after the dropped file so people find it, made unique by the content hash."""
    stem = PurePosixPath(source_key).name
    for suffix in (GZIP_SUFFIX, *CSV_SUFFIXES, *JSONL_SUFFIXES):
        stem = stem.removesuffix(suffix)
    return f"{REJECTS_PREFIX}{stem}-{sha256[:12]}.csv"

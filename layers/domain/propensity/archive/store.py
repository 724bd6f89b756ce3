"""The archive bucket (or folder) behind one small interface, with a local and an S3 backend.

The archive holds the PredictionEvents (``predictions/``) and what the monitoring jobs
derive from them (``drift/``, ``shadow/``). Jobs call only these methods, so the same job
runs on a laptop folder and on the S3 bucket; the backend is chosen once, by
``open_archive``, from a location string.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from propensity.registry.storage import BlobStore, LocalBlobStore

ARCHIVE_ENV = "PROPENSITY_ARCHIVE"
_UMASK = os.umask(0)
os.umask(_UMASK)
DEFAULT_ARCHIVE = Path(".local/archive")


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: enough to notice that it changed (``etag``) without reading it."""

    key: str
    size: int
    etag: str


class ArchiveStore(BlobStore):
    """A ``BlobStore`` that can also describe and stream its objects (archive files can be large)."""

    @abstractmethod
    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Objects under ``prefix``, sorted by key."""

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A readable binary stream of the object (the caller closes it); ``KeyError`` if absent."""

    def list(self, prefix: str) -> list[str]:
        return [info.key for info in self.list_objects(prefix)]


class LocalArchiveStore(LocalBlobStore, ArchiveStore):
    """The archive as a folder (what the local server writes with ``LocalArchiveWriter``)."""

    def __init__(self, root: Path | str) -> None:
        super().__init__(Path(root))

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        # Walk only the folder the prefix names, not the whole archive: hours add up.
        directory, _, _ = prefix.rpartition("/")
        base = self.root / directory if directory else self.root
        if not base.is_dir():
            return []
        found = []
        for folder, _, files in os.walk(base):
            for name in files:
                if name.startswith((".tmp-", ".")):
                    continue
                path = Path(folder) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    stat = path.stat()
                    found.append(ObjectInfo(key, stat.st_size, f"{stat.st_size}-{stat.st_mtime_ns}"))
        return sorted(found, key=lambda info: info.key)

    def list(self, prefix: str) -> list[str]:
        return [info.key for info in self.list_objects(prefix)]

    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        super().put(key, data, create_only=create_only)
        # The atomic write goes through a private temporary file (mode 0600); results and reports
        # are for people to read: give them the mode an ordinary file gets under the umask.
        os.chmod(self._path(key), 0o666 & ~_UMASK)

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        return path.open("rb")


def open_archive(location: str | Path | None = None) -> ArchiveStore:
    """A folder path or ``s3://bucket[/prefix]`` (default: ``$PROPENSITY_ARCHIVE``, else .local/archive)."""
    where = str(location or os.environ.get(ARCHIVE_ENV) or DEFAULT_ARCHIVE)
    if where.startswith("s3://"):
        from propensity.archive.s3 import S3ArchiveStore  # boto3 only when S3 is asked for

        bucket, _, prefix = where.removeprefix("s3://").partition("/")
        return S3ArchiveStore(bucket, prefix)
    return LocalArchiveStore(Path(where))

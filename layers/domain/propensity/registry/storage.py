"""Blob storage behind the registry: one small interface, one implementation per backend.

The registry only calls these methods, so an S3 backend (``registry.s3``) drops in without
touching callers. Keys are '/'-separated relative paths.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path


class BlobExistsError(RuntimeError):
    """A create-only write found the key already present."""


class BlobStore(ABC):
    """Minimal key-value blob storage."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The blob at ``key``; ``KeyError`` if absent."""

    @abstractmethod
    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        """Store ``data``; with ``create_only`` raise ``BlobExistsError`` if the key exists."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """All keys under ``prefix``, sorted."""

    def exists(self, key: str) -> bool:
        try:
            self.get(key)
        except KeyError:
            return False
        return True

    @property
    @abstractmethod
    def location(self) -> str:
        """Human-readable location (a path or an s3:// URL)."""


class LocalBlobStore(BlobStore):
    """A folder on disk: the embedded default."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"key escapes the store: {key}")
        return path

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise KeyError(key)
        return path.read_bytes()

    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if create_only:
            try:
                # O_EXCL makes "create if absent" atomic, so two writers cannot both win.
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError as error:
                raise BlobExistsError(key) from error
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            return
        handle_fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle_fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)

    def list(self, prefix: str) -> list[str]:
        base = self.root
        if not base.exists():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

"""Blob storage behind the registry: one small interface, one implementation per backend.

The registry only calls these methods, so an S3 backend (``registry.s3``) drops in without
touching callers. Keys are '/'-separated relative paths.

Two writes carry the registry's guarantees:

- ``put(..., create_only=True)``: the object appears whole or not at all, and a second writer
  of the same key is refused (``BlobExistsError``). Locally: write a temporary file, then
  ``os.link`` it into place (``link`` never overwrites, and a reader can never see a half-written
  file); on S3: ``If-None-Match: *``.
- ``swap(key, data, expected)``: compare-and-swap. The write happens only if the object still
  has the ``expected`` tag (``None``: still absent), else ``BlobConflictError``. Locally: an
  ``fcntl`` lock around read, compare and atomic rename; on S3: ``If-Match`` on the ETag.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

TEMPORARY_PREFIX = ".tmp-"


class BlobExistsError(RuntimeError):
    """A create-only write found the key already present."""


class BlobConflictError(RuntimeError):
    """A compare-and-swap found the object changed since it was read."""


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

    # Compare-and-swap: the registry's stores implement both (other users of BlobStore, such as
    # the prediction archive, never move pointers and need not).
    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The blob and its version tag (an ETag on S3, a digest locally), or ``None`` when absent."""
        raise NotImplementedError(f"{type(self).__name__} has no compare-and-swap")

    def swap(self, key: str, data: bytes, expected: str | None) -> None:
        """Replace the blob only if its tag is still ``expected`` (``None``: only if absent)."""
        raise NotImplementedError(f"{type(self).__name__} has no compare-and-swap")

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

    def _temporary(self, folder: Path, data: bytes) -> str:
        """A fully written, fsynced temporary file next to the target (same file system)."""
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=TEMPORARY_PREFIX)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return temporary

    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        path = self._path(key)
        temporary = self._temporary(path.parent, data)
        if not create_only:
            os.replace(temporary, path)
            return
        try:
            # link() fails if the name exists, and the linked file is already complete: readers
            # see the whole record or nothing, and two writers cannot both win.
            os.link(temporary, path)
        except FileExistsError as error:
            raise BlobExistsError(key) from error
        finally:
            os.unlink(temporary)

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self.get(key)
        except KeyError:
            return None
        return data, hashlib.sha256(data).hexdigest()

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(f"{TEMPORARY_PREFIX}{path.name}.lock")
        with open(lock, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def swap(self, key: str, data: bytes, expected: str | None) -> None:
        path = self._path(key)
        temporary = self._temporary(path.parent, data)  # written and synced before taking the lock
        try:
            with self._locked(path):
                current = self.get_tagged(key)
                if (current[1] if current else None) != expected:
                    raise BlobConflictError(key)
                # rename() is atomic: a reader sees the old pointer or the new one, never a mix.
                os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def list(self, prefix: str) -> list[str]:
        base = self.root
        if not base.exists():
            return []
        # Only walk the folder the prefix names (the registry lists narrow prefixes often).
        folder, _, _ = prefix.rpartition("/")
        start = base / folder if folder else base
        if not start.is_dir():
            return []
        keys = []
        for path in start.rglob("*"):
            if path.is_file() and not path.name.startswith(TEMPORARY_PREFIX):
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

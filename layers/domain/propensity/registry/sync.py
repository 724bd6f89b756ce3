"""Copy a registry into another (``push`` local -> S3, ``pull`` S3 -> local), never losing records.

- Bundle files are immutable: a file missing at the destination is copied (checked against the
  manifest's SHA-256 first), an existing one is left alone. A version's manifest is copied last,
  so it becomes visible only once all of its files are there.
- A manifest present on both sides may differ only in its validation and approval records
  (anything else is a conflict, refused): the destination gets the union of both.
- Alias history entries are one object each, with unique keys: missing ones are copied
  create-only, so moves made on both sides interleave by time instead of overwriting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from propensity.bundle.manifest import MANIFEST_FILE, Manifest
from propensity.constants import API_VERSIONS, ApiVersion
from propensity.registry.registry import Registry, RegistryError
from propensity.registry.storage import BlobExistsError

Record = TypeVar("Record", bound=BaseModel)


@dataclass(frozen=True)
class SyncResult:
    """What a sync changed at the destination."""

    versions_copied: list[str]
    manifests_merged: list[str]
    alias_moves_copied: int


def _union(mine: Iterable[Record], theirs: Iterable[Record]) -> list[Record]:
    """Records of both sides, each once, oldest first."""
    seen: dict[str, Record] = {}
    for record in [*mine, *theirs]:
        seen.setdefault(record.model_dump_json(), record)
    return sorted(seen.values(), key=lambda r: (r.model_dump()["at"], r.model_dump_json()))


def merge_manifests(destination: Manifest, source: Manifest) -> Manifest:
    """``destination`` with the validation and approval records of both."""
    frozen = {"validation", "approvals"}
    if destination.model_dump(exclude=frozen) != source.model_dump(exclude=frozen):
        raise RegistryError(
            f"{source.api_version} model {source.model_version} differs between the registries beyond its "
            f"validation and approval records; refusing to merge"
        )
    return destination.model_copy(
        update={
            "validation": _union(destination.validation, source.validation),
            "approvals": _union(destination.approvals, source.approvals),
        }
    )


def _copy_version(source: Registry, destination: Registry, manifest: Manifest) -> bool:
    """Copy one bundle's files then its manifest; False when the destination already has it."""
    prefix = f"models/{manifest.api_version}/{manifest.model_version}/"
    if destination.store.exists(prefix + MANIFEST_FILE):
        return False
    for name, expected in manifest.files.items():
        if destination.store.exists(prefix + name):
            continue
        data = source.store.get(prefix + name)
        if hashlib.sha256(data).hexdigest() != expected:
            raise RegistryError(
                f"{source.store.location}: {prefix}{name} does not match its manifest; not copied"
            )
        destination.store.put(prefix + name, data)
    destination.store.put(prefix + MANIFEST_FILE, source.store.get(prefix + MANIFEST_FILE))
    return True


def sync(source: Registry, destination: Registry, apis: Iterable[ApiVersion] = API_VERSIONS) -> SyncResult:
    """Bring ``destination`` up to date with ``source`` (one direction; nothing is deleted)."""
    copied: list[str] = []
    merged: list[str] = []
    moves = 0
    for api in apis:
        for manifest in source.versions(api):
            if _copy_version(source, destination, manifest):
                copied.append(manifest.model_version)
                continue
            current = destination.manifest(api, manifest.model_version)
            combined = merge_manifests(current, manifest)
            if combined != current:
                destination.update_manifest(combined)
                merged.append(manifest.model_version)
        history = f"aliases/{api}/history/"
        existing = set(destination.store.list(history))
        for key in source.store.list(history):
            if key in existing:
                continue
            try:
                destination.store.put(key, source.store.get(key), create_only=True)
                moves += 1
            except BlobExistsError:
                pass  # another sync copied it meanwhile: same key, same content
    return SyncResult(copied, merged, moves)


def push(local: Registry, remote: Registry, apis: Iterable[ApiVersion] = API_VERSIONS) -> SyncResult:
    """Publish the local registry's bundles, records and alias moves to the shared one."""
    return sync(local, remote, apis)


def pull(local: Registry, remote: Registry, apis: Iterable[ApiVersion] = API_VERSIONS) -> SyncResult:
    """Bring the shared registry's bundles, records and alias moves into the local one."""
    return sync(remote, local, apis)

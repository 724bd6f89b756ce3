"""Copy a registry into another (``push`` local -> S3, ``pull`` S3 -> local), never losing records.

- Every record read from the source is verified with the source's seal first, then sealed again
  by the destination's signer (a local digest becomes a KMS signature on push, and back on pull):
  a tampered source record is refused, not laundered.
- Bundle files are immutable: a file missing at the destination is copied after checking it
  against the manifest, which is checked against the source's registration record; the
  registration is written last, so a version appears only once all of its files are there.
- Decision records (gate verdicts, approvals, experiments, ...) are copied create-only under
  their own names: records made on both sides simply add up.
- Aliases are NOT copied: each registry's aliases move only through its own policy
  (``propensity promote --registry <that registry>``), so a pushed model is never made
  champion somewhere by the copy itself.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from propensity.bundle.manifest import MANIFEST_FILE
from propensity.constants import API_VERSIONS, ApiVersion
from propensity.registry.records import RECORDS_PREFIX, reseal
from propensity.registry.registry import ALIAS_KIND, REGISTRATION, IntegrityError, Registry
from propensity.registry.storage import BlobExistsError


@dataclass(frozen=True)
class SyncResult:
    """What a sync changed at the destination."""

    versions_copied: list[str]
    records_copied: int
    kinds: dict[str, int] = field(default_factory=dict)


def _copy_version(source: Registry, destination: Registry, api: ApiVersion, version: str) -> bool:
    """Copy one bundle's files, its manifest, then its registration; False when already there."""
    registration = source.registration(api, version)
    try:
        theirs = destination.registration(api, version)
    except KeyError:
        theirs = None
    if theirs is not None:
        if theirs.manifest_sha256 != registration.manifest_sha256:
            raise IntegrityError(
                f"{api} model {version} is registered with different manifests in "
                f"{source.store.location} and {destination.store.location}; refusing to merge"
            )
        return False
    manifest = source.verify(api, version)
    prefix = f"models/{api}/{version}/"
    for name, expected in manifest.files.items():
        data = source.store.get(prefix + name)
        if hashlib.sha256(data).hexdigest() != expected:  # changed since verify: refuse, do not copy
            raise IntegrityError(f"{source.store.location}/{prefix}{name} does not match its manifest")
        destination.store.put(prefix + name, data)
    destination.store.put(prefix + MANIFEST_FILE, source.manifest_bytes(api, version))
    record = reseal(registration.record, destination.signer)
    with contextlib.suppress(BlobExistsError):  # another sync registered it meanwhile
        destination.store.put(record.key, record.model_dump_json(indent=2).encode(), create_only=True)
    return True


def sync(source: Registry, destination: Registry, apis: Iterable[ApiVersion] = API_VERSIONS) -> SyncResult:
    """Bring ``destination`` up to date with ``source`` (one direction; nothing is deleted)."""
    copied: list[str] = []
    kinds: dict[str, int] = {}
    for api in apis:
        for manifest in source.versions(api):
            if _copy_version(source, destination, api, manifest.model_version):
                copied.append(manifest.model_version)
        existing = set(destination.store.list(f"{RECORDS_PREFIX}/"))
        for key in source.store.list(f"{RECORDS_PREFIX}/"):
            parts = key.split("/")
            if (
                len(parts) != 5
                or parts[2] != api
                or parts[1] in (REGISTRATION, ALIAS_KIND)
                or key in existing
            ):
                continue
            record = reseal(source.read_record(key), destination.signer)
            try:
                destination.store.put(key, record.model_dump_json(indent=2).encode(), create_only=True)
            except BlobExistsError:
                continue
            kinds[record.kind] = kinds.get(record.kind, 0) + 1
    return SyncResult(copied, sum(kinds.values()), dict(sorted(kinds.items())))


def push(local: Registry, remote: Registry, apis: Iterable[ApiVersion] = API_VERSIONS) -> SyncResult:
    """Publish the local registry's bundles and records to the shared one."""
    return sync(local, remote, apis)


def pull(local: Registry, remote: Registry, apis: Iterable[ApiVersion] = API_VERSIONS) -> SyncResult:
    """Bring the shared registry's bundles and records into the local one (what CI runs before synth)."""
    return sync(remote, local, apis)

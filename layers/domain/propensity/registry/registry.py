"""Register bundles, list versions, move aliases with an append-only history.

Layout in the store::

    models/<api>/<model-version>/<bundle files>
    aliases/<api>/history/<iso-time>-<uuid>.json    one object per alias move, never rewritten

The current target of an alias is the newest history entry for it. Keeping each move as its
own create-only object means concurrent moves can never overwrite each other's history.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from propensity.bundle.io import Bundle, BundleError, load_bundle, read_manifest, verify_files
from propensity.bundle.manifest import MANIFEST_FILE, Manifest
from propensity.constants import Alias, ApiVersion
from propensity.registry.storage import BlobStore


class RegistryError(RuntimeError):
    """An unknown version or alias, or a refused operation."""


class AliasMove(BaseModel):
    """One entry of an alias's history."""

    api_version: ApiVersion
    alias: Alias
    model_version: str | None  # None when an alias is cleared
    previous_version: str | None
    actor: str
    reason: str
    at: datetime


def current_actor() -> str:
    """Who is acting: $PROPENSITY_ACTOR, else the login name."""
    return os.environ.get("PROPENSITY_ACTOR") or os.environ.get("USER") or "unknown"


class Registry:
    """The registry over any ``BlobStore``."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    # Bundles -----------------------------------------------------------------------------

    def register(self, bundle_path: Path) -> Manifest:
        """Copy a verified bundle folder into the registry. Re-registering identical files is a no-op."""
        manifest = read_manifest(bundle_path)
        verify_files(bundle_path, manifest)
        prefix = f"models/{manifest.api_version}/{manifest.model_version}/"
        if self.store.exists(prefix + MANIFEST_FILE):
            existing = Manifest.model_validate_json(self.store.get(prefix + MANIFEST_FILE))
            if existing.files != manifest.files:
                raise RegistryError(f"{manifest.model_version} is already registered with other files")
            return existing
        for name in manifest.files:
            self.store.put(prefix + name, (bundle_path / name).read_bytes())
        # The manifest goes last: a version is visible only once all its files are in.
        self.store.put(prefix + MANIFEST_FILE, (bundle_path / MANIFEST_FILE).read_bytes())
        return manifest

    def versions(self, api_version: ApiVersion) -> list[Manifest]:
        """Registered versions of an API version, oldest first."""
        keys = [k for k in self.store.list(f"models/{api_version}/") if k.endswith("/" + MANIFEST_FILE)]
        manifests = [Manifest.model_validate_json(self.store.get(k)) for k in keys]
        return sorted(manifests, key=lambda m: (m.created_at, m.model_version))

    def manifest(self, api_version: ApiVersion, model_version: str) -> Manifest:
        try:
            return Manifest.model_validate_json(
                self.store.get(f"models/{api_version}/{model_version}/{MANIFEST_FILE}")
            )
        except KeyError as error:
            raise RegistryError(f"{api_version} model {model_version} is not registered") from error

    def update_manifest(self, manifest: Manifest) -> None:
        """Store a manifest whose validation or approval records changed (nothing else may)."""
        current = self.manifest(manifest.api_version, manifest.model_version)
        frozen = {"validation", "approvals"}
        if manifest.model_dump(exclude=frozen) != current.model_dump(exclude=frozen):
            raise RegistryError("only validation and approval records of a manifest may change")
        key = f"models/{manifest.api_version}/{manifest.model_version}/{MANIFEST_FILE}"
        self.store.put(key, manifest.model_dump_json(indent=2).encode())

    def fetch(self, api_version: ApiVersion, model_version: str, destination: Path) -> Path:
        """Copy a registered bundle into ``destination`` (a new folder) and verify it."""
        manifest = self.manifest(api_version, model_version)
        destination.mkdir(parents=True, exist_ok=False)
        prefix = f"models/{api_version}/{model_version}/"
        for name in [*manifest.files, MANIFEST_FILE]:
            (destination / name).write_bytes(self.store.get(prefix + name))
        verify_files(destination, manifest)
        return destination

    def load(self, api_version: ApiVersion, model_version: str, cache_dir: Path) -> Bundle:
        """Fetch (once) into ``cache_dir`` and load for scoring."""
        target = cache_dir / api_version / model_version
        if not target.exists():
            self.fetch(api_version, model_version, target)
        try:
            return load_bundle(target, api_version)
        except BundleError:
            raise

    # Aliases -----------------------------------------------------------------------------

    def history(self, api_version: ApiVersion, alias: Alias | None = None) -> list[AliasMove]:
        """Alias moves, oldest first."""
        moves = [
            AliasMove.model_validate_json(self.store.get(key))
            for key in self.store.list(f"aliases/{api_version}/history/")
        ]
        moves.sort(key=lambda m: m.at)
        return [m for m in moves if alias is None or m.alias == alias]

    def alias(self, api_version: ApiVersion, alias: Alias) -> str | None:
        """The model version an alias points at, or ``None``."""
        moves = self.history(api_version, alias)
        return moves[-1].model_version if moves else None

    def set_alias(
        self,
        api_version: ApiVersion,
        alias: Alias,
        model_version: str | None,
        *,
        reason: str,
        actor: str | None = None,
    ) -> AliasMove:
        """Point ``alias`` at a registered version (or clear it with ``None``), recording who and why."""
        if model_version is not None:
            self.manifest(api_version, model_version)  # must exist
        now = datetime.now(UTC)
        move = AliasMove(
            api_version=api_version,
            alias=alias,
            model_version=model_version,
            previous_version=self.alias(api_version, alias),
            actor=actor or current_actor(),
            reason=reason,
            at=now,
        )
        key = f"aliases/{api_version}/history/{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{uuid.uuid4().hex}.json"
        self.store.put(key, json.dumps(move.model_dump(mode="json"), indent=2).encode(), create_only=True)
        return move

"""The registry: immutable bundles, sealed create-only records, aliases moved by compare-and-swap.

Layout in the store::

    models/<api>/<model-version>/<bundle files + manifest.json>    written once, never edited
    records/registration/<api>/<model-version>/registration.json    the manifest's SHA-256, sealed
    records/<kind>/<api>/<subject>/<name>.json                      gate results, approvals, ...
    records/alias/<api>/<alias>/<sequence>.json                     every alias move, in order
    aliases/<api>/<alias>.json                                      the pointer: the latest move

Every read of a manifest checks it against its sealed registration record, and every bundle
file against the manifest's SHA-256, so a changed byte anywhere is refused with the file's name.

An alias move is decided by ``propensity.promotion.policy`` (the only caller of
``swap_alias``) against the pointer it read; the pointer is then replaced only if it is still
that pointer (compare-and-swap), so ``previous_version`` is always the version really replaced.
The move is also written create-only under its sequence number, so the history keeps every move.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from propensity.bundle.io import (
    REGISTRATION_FILE,
    Bundle,
    BundleError,
    load_bundle,
    read_manifest,
    verify_files,
)
from propensity.bundle.manifest import MANIFEST_FILE, Manifest
from propensity.constants import Alias, ApiVersion
from propensity.registry.records import (
    Record,
    RecordError,
    new_record,
    parse_record,
    record_key,
    record_prefix,
)
from propensity.registry.signing import DigestSigner, Signer
from propensity.registry.storage import BlobConflictError, BlobExistsError, BlobStore

REGISTRATION = "registration"
ALIAS_KIND = "alias"


class RegistryError(RuntimeError):
    """An unknown version or alias, or a refused operation."""


class IntegrityError(RegistryError):
    """A bundle file, manifest or record does not match what was registered; the message names it."""


class AliasConflictError(RegistryError):
    """The alias moved between reading it and replacing it (someone else moved it first)."""


class AliasMove(BaseModel):
    """One alias move: where it points now, what it replaced, who, why, and by which policy rule."""

    api_version: ApiVersion
    alias: Alias
    model_version: str | None  # None when an alias is cleared
    previous_version: str | None
    sequence: int  # 1 for the alias's first move; each move is the previous one's + 1
    actor: str
    reason: str
    at: datetime
    rule: str = ""  # the policy rule that allowed it (promotion.policy)
    break_glass: bool = False


@dataclass(frozen=True)
class AliasPointer:
    """An alias as read: its latest move (``None`` if never moved) and the store's version tag."""

    move: AliasMove | None
    tag: str | None
    raw: bytes | None = None  # the pointer's bytes (a sealed alias record)

    @property
    def version(self) -> str | None:
        return self.move.model_version if self.move else None

    @property
    def sequence(self) -> int:
        return self.move.sequence if self.move else 0


@dataclass(frozen=True)
class Registration:
    """What registering a version sealed: the manifest's SHA-256 and the files it lists."""

    api_version: ApiVersion
    model_version: str
    manifest_sha256: str
    record: Record


def current_actor() -> str:
    """Who is acting: $PROPENSITY_ACTOR, else the login name."""
    return os.environ.get("PROPENSITY_ACTOR") or os.environ.get("USER") or "unknown"


def _bundle_prefix(api_version: ApiVersion, model_version: str) -> str:
    return f"models/{api_version}/{model_version}/"


def _pointer_key(api_version: ApiVersion, alias: Alias) -> str:
    return f"aliases/{api_version}/{alias}.json"


class Registry:
    """The registry over any ``BlobStore``, sealing records with ``signer`` (digests by default)."""

    def __init__(self, store: BlobStore, signer: Signer | None = None) -> None:
        self.store = store
        self.signer = signer or DigestSigner()

    def _where(self, key: str) -> str:
        return f"{self.store.location.rstrip('/')}/{key}"

    # Records ---------------------------------------------------------------------------------

    def put_record(
        self,
        kind: str,
        api_version: ApiVersion,
        subject: str,
        body: dict[str, Any],
        *,
        name: str | None = None,
        actor: str | None = None,
    ) -> Record:
        """Seal and store a new create-only record; ``BlobExistsError`` if ``name`` is taken.

        Without ``name`` the record gets a unique, time-sortable one. With a ``name`` (an
        approver, a registration) the store itself refuses a second record of that name.
        """
        record = new_record(
            self.signer,
            kind=kind,
            api_version=api_version,
            subject=subject,
            body=body,
            actor=actor or current_actor(),
            name=name,
        )
        self.store.put(record.key, record.model_dump_json(indent=2).encode(), create_only=True)
        return record

    def read_record(self, key: str) -> Record:
        """One record by key, verified: ``IntegrityError`` if tampered with, ``KeyError`` if absent."""
        try:
            return parse_record(self.store.get(key), key, self.signer, self.store.location)
        except RecordError as error:
            raise IntegrityError(str(error)) from error

    def records(self, kind: str, api_version: ApiVersion, subject: str | None = None) -> list[Record]:
        """Every record of a kind (for one subject, or all), verified, oldest first.

        One tampered record refuses the whole listing: a decision is never taken on a partial view.
        """
        found = [
            self.read_record(key)
            for key in self.store.list(record_prefix(kind, api_version, subject))
            if key.endswith(".json")
        ]
        return sorted(found, key=lambda record: (record.at, record.name))

    # Bundles ---------------------------------------------------------------------------------

    def register(self, bundle_path: Path, *, actor: str | None = None) -> Manifest:
        """Copy a verified bundle folder in and seal its registration (the same bytes again: a no-op)."""
        manifest = read_manifest(bundle_path)
        verify_files(bundle_path, manifest)
        manifest_bytes = (bundle_path / MANIFEST_FILE).read_bytes()
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        api, version = manifest.api_version, manifest.model_version
        prefix = _bundle_prefix(api, version)
        try:
            existing = self.registration(api, version)
        except KeyError:
            existing = None
        if existing is not None:
            if existing.manifest_sha256 != digest:
                raise RegistryError(f"{version} is already registered with another manifest")
            return self.manifest(api, version)
        for name in manifest.files:
            self.store.put(prefix + name, (bundle_path / name).read_bytes())
        self.store.put(prefix + MANIFEST_FILE, manifest_bytes)
        # The registration goes last: a version exists only once all of its files are in.
        try:
            self.put_record(
                REGISTRATION,
                api,
                version,
                {"manifest_sha256": digest, "files": dict(manifest.files)},
                name=REGISTRATION,
                actor=actor,
            )
        except BlobExistsError:
            if self.registration(api, version).manifest_sha256 != digest:
                raise RegistryError(f"{version} was registered meanwhile with another manifest") from None
        return manifest

    def registration(self, api_version: ApiVersion, model_version: str) -> Registration:
        """The sealed registration of a version; ``KeyError`` if it was never registered."""
        record = self.read_record(record_key(REGISTRATION, api_version, model_version, REGISTRATION))
        return Registration(api_version, model_version, str(record.body["manifest_sha256"]), record)

    def _registration_or_error(self, api_version: ApiVersion, model_version: str) -> Registration:
        try:
            return self.registration(api_version, model_version)
        except KeyError as error:
            raise RegistryError(f"{api_version} model {model_version} is not registered") from error

    def manifest_bytes(self, api_version: ApiVersion, model_version: str) -> bytes:
        """The manifest exactly as registered (verified against the registration record)."""
        registration = self._registration_or_error(api_version, model_version)
        key = _bundle_prefix(api_version, model_version) + MANIFEST_FILE
        try:
            data = self.store.get(key)
        except KeyError as error:
            raise IntegrityError(f"{self._where(key)} is missing, but the version is registered") from error
        actual = hashlib.sha256(data).hexdigest()
        if actual != registration.manifest_sha256:
            raise IntegrityError(
                f"{self._where(key)} has SHA-256 {actual[:12]}…, its registration records "
                f"{registration.manifest_sha256[:12]}…; refusing a tampered manifest"
            )
        return data

    def manifest(self, api_version: ApiVersion, model_version: str) -> Manifest:
        """The verified manifest of a registered version."""
        return Manifest.model_validate_json(self.manifest_bytes(api_version, model_version))

    def versions(self, api_version: ApiVersion) -> list[Manifest]:
        """Registered versions of an API version (each verified), oldest first."""
        subjects = {
            key.split("/")[3]
            for key in self.store.list(record_prefix(REGISTRATION, api_version))
            if key.endswith(f"/{REGISTRATION}.json")
        }
        manifests = [self.manifest(api_version, version) for version in subjects]
        return sorted(manifests, key=lambda m: (m.created_at, m.model_version))

    def verify(self, api_version: ApiVersion, model_version: str) -> Manifest:
        """Check a registered version end to end: registration seal, manifest hash, every file's hash."""
        manifest = self.manifest(api_version, model_version)
        prefix = _bundle_prefix(api_version, model_version)
        for name, expected in manifest.files.items():
            try:
                data = self.store.get(prefix + name)
            except KeyError as error:
                raise IntegrityError(f"{self._where(prefix + name)} is missing") from error
            if hashlib.sha256(data).hexdigest() != expected:
                raise IntegrityError(
                    f"{self._where(prefix + name)} does not match its manifest's SHA-256; "
                    "refusing a tampered bundle"
                )
        return manifest

    def fetch(self, api_version: ApiVersion, model_version: str, destination: Path) -> Path:
        """Copy a registered bundle and its registration record into the new folder ``destination``."""
        registration = self._registration_or_error(api_version, model_version)
        manifest_data = self.manifest_bytes(api_version, model_version)
        manifest = Manifest.model_validate_json(manifest_data)
        destination.mkdir(parents=True, exist_ok=False)
        prefix = _bundle_prefix(api_version, model_version)
        try:
            for name in manifest.files:
                (destination / name).write_bytes(self.store.get(prefix + name))
            (destination / MANIFEST_FILE).write_bytes(manifest_data)
            (destination / REGISTRATION_FILE).write_text(registration.record.model_dump_json(indent=2))
            verify_files(destination, manifest)
        except (BundleError, KeyError) as error:
            shutil.rmtree(destination, ignore_errors=True)
            raise IntegrityError(f"{self._where(prefix)}: {error}") from error
        return destination

    def load(self, api_version: ApiVersion, model_version: str, cache_dir: Path) -> Bundle:
        """Fetch (once) into ``cache_dir`` and load for scoring, checking the copy against the registry.

        The cached copy's manifest must still have the registered SHA-256 (the registry's
        record, not the copy's); a damaged copy is fetched again.
        """
        registration = self._registration_or_error(api_version, model_version)
        target = cache_dir / api_version / model_version
        if target.exists():
            cached = target / MANIFEST_FILE
            if (
                not cached.is_file()
                or hashlib.sha256(cached.read_bytes()).hexdigest() != registration.manifest_sha256
            ):
                shutil.rmtree(target)
        if not target.exists():
            self.fetch(api_version, model_version, target)
        return load_bundle(target, api_version, expected_manifest_sha256=registration.manifest_sha256)

    # Aliases ---------------------------------------------------------------------------------

    def alias_pointer(self, api_version: ApiVersion, alias: Alias) -> AliasPointer:
        """The alias's latest move and the tag a compare-and-swap must match (one read)."""
        key = _pointer_key(api_version, alias)
        found = self.store.get_tagged(key)
        if found is None:
            return AliasPointer(None, None)
        data, tag = found
        try:
            record = parse_record(
                data,
                record_key(ALIAS_KIND, api_version, alias, _sequence_name(_peek_sequence(data))),
                self.signer,
                self.store.location,
            )
        except (RecordError, ValueError) as error:
            raise IntegrityError(f"{self._where(key)} is refused: {error}") from error
        return AliasPointer(AliasMove.model_validate(record.body), tag, data)

    def alias(self, api_version: ApiVersion, alias: Alias) -> str | None:
        """The model version an alias points at, or ``None`` (one object read: cheap to poll)."""
        return self.alias_pointer(api_version, alias).version

    def history(self, api_version: ApiVersion, alias: Alias | None = None) -> list[AliasMove]:
        """Alias moves, oldest first (each alias's moves in sequence order)."""
        aliases: list[Alias] = [alias] if alias is not None else ["champion", "challenger"]
        moves: list[AliasMove] = []
        for name in aliases:
            recorded = [AliasMove.model_validate(r.body) for r in self.records(ALIAS_KIND, api_version, name)]
            latest = self.alias_pointer(api_version, name).move
            # A mover that stopped between the swap and the history write leaves the pointer ahead.
            if latest is not None and all(m.sequence != latest.sequence for m in recorded):
                recorded.append(latest)
            moves.extend(sorted(recorded, key=lambda m: m.sequence))
        return sorted(moves, key=lambda m: (m.at, m.alias, m.sequence)) if alias is None else moves

    def swap_alias(self, expected: AliasPointer, move: AliasMove) -> AliasMove:
        """Replace the pointer if it is still ``expected``, then record the move in the history.

        Called by ``propensity.promotion.policy`` once the policy has allowed ``move`` against
        ``expected``; ``AliasConflictError`` when another move won the race (decide again).
        """
        if move.previous_version != expected.version or move.sequence != expected.sequence + 1:
            raise RegistryError("an alias move must replace the pointer it was decided against")
        if move.model_version is not None:
            self.manifest(move.api_version, move.model_version)  # registered, and intact
        record = new_record(
            self.signer,
            kind=ALIAS_KIND,
            api_version=move.api_version,
            subject=move.alias,
            body=move.model_dump(mode="json"),
            actor=move.actor,
            name=_sequence_name(move.sequence),
            at=move.at,
        )
        data = record.model_dump_json(indent=2).encode()
        if expected.move is not None and expected.raw is not None:
            self._record_history(expected.move, expected.raw)  # repairs a predecessor that stopped half-way
        try:
            self.store.swap(_pointer_key(move.api_version, move.alias), data, expected.tag)
        except BlobConflictError as error:
            raise AliasConflictError(f"{move.api_version} {move.alias} moved meanwhile") from error
        with contextlib.suppress(BlobExistsError):  # a later mover already repaired this entry
            self.store.put(record.key, data, create_only=True)
        return move

    def _record_history(self, move: AliasMove, data: bytes) -> None:
        key = record_key(ALIAS_KIND, move.api_version, move.alias, _sequence_name(move.sequence))
        if self.store.exists(key):
            return
        with contextlib.suppress(BlobExistsError):
            self.store.put(key, data, create_only=True)

    def set_alias(
        self,
        api_version: ApiVersion,
        alias: Alias,
        model_version: str | None,
        *,
        reason: str,
        actor: str | None = None,
        require_approval: bool = False,
    ) -> AliasMove:
        """Move an alias through the promotion policy (``propensity.promotion.policy.move_alias``)."""
        from propensity.promotion.policy import move_alias  # the policy builds on the registry

        return move_alias(
            self,
            api_version,
            alias,
            model_version,
            reason=reason,
            actor=actor,
            require_approval=require_approval,
        )


def _sequence_name(sequence: int) -> str:
    return f"{sequence:010d}"


def _peek_sequence(data: bytes) -> int:
    """The sequence a pointer claims (checked against the record's own name by ``parse_record``)."""
    import json

    try:
        return int(json.loads(data)["body"]["sequence"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError("not an alias move record") from error

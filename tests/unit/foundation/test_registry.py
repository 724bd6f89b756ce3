"""The local registry: register, list, aliases and their append-only history."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from propensity.registry.registry import Registry, RegistryError
from propensity.registry.storage import BlobExistsError, LocalBlobStore


def test_register_list_and_fetch(tmp_path: Path, trained) -> None:
    registry = Registry(LocalBlobStore(tmp_path / "reg"))
    manifest = registry.register(trained["v1"].bundle_path)
    assert [m.model_version for m in registry.versions("v1")] == [manifest.model_version]
    assert registry.versions("v2") == []
    # Registering the same bundle again is a no-op, not a duplicate
    registry.register(trained["v1"].bundle_path)
    assert len(registry.versions("v1")) == 1
    bundle = registry.load("v1", manifest.model_version, tmp_path / "cache")
    assert bundle.manifest.model_version == manifest.model_version


def test_aliases_and_history(registry: Registry, trained) -> None:
    v1 = trained["v1"].manifest.model_version
    assert registry.alias("v1", "champion") == v1
    assert registry.alias("v1", "challenger") is None
    registry.set_alias("v1", "challenger", v1, reason="shadow it", actor="ada")
    registry.set_alias("v1", "challenger", None, reason="done", actor="bob")
    history = registry.history("v1")
    assert [(m.alias, m.model_version, m.actor) for m in history] == [
        ("champion", v1, "pytest"),
        ("challenger", v1, "ada"),
        ("challenger", None, "bob"),
    ]
    assert history[-1].previous_version == v1 and history[-1].reason == "done"
    assert registry.alias("v1", "challenger") is None


def test_unknown_version_is_refused(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="v2 model v2-nope is not registered"):
        registry.set_alias("v2", "champion", "v2-nope", reason="typo")


def test_concurrent_alias_moves_keep_every_history_entry(registry: Registry, trained) -> None:
    version = trained["v2"].manifest.model_version
    threads = [
        threading.Thread(
            target=registry.set_alias,
            args=("v2", "challenger", version),
            kwargs={"reason": f"move {i}", "actor": f"t{i}"},
        )
        for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reasons = {m.reason for m in registry.history("v2", "challenger")}
    assert reasons == {f"move {i}" for i in range(20)}


def test_store_refuses_escaping_keys_and_double_create(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("a/b.json", b"1", create_only=True)
    with pytest.raises(BlobExistsError):
        store.put("a/b.json", b"2", create_only=True)
    with pytest.raises(ValueError, match="escapes"):
        store.get("../outside")
    assert store.list("a/") == ["a/b.json"]


def test_manifest_updates_are_limited(registry: Registry, trained) -> None:
    manifest = registry.manifest("v1", trained["v1"].manifest.model_version)
    with pytest.raises(RegistryError, match="only validation and approval"):
        registry.update_manifest(manifest.model_copy(update={"threshold": 0.5}))

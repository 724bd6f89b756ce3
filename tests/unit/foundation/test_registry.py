"""The local registry: register, list, sealed records, aliases moved by compare-and-swap."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from propensity.registry.registry import IntegrityError, Registry, RegistryError
from propensity.registry.storage import BlobConflictError, BlobExistsError, LocalBlobStore
from tests.evidence import record_gate, renamed_bundle


def test_register_list_and_fetch(tmp_path: Path, trained) -> None:
    registry = Registry(LocalBlobStore(tmp_path / "reg"))
    manifest = registry.register(trained["v1"].bundle_path)
    assert [m.model_version for m in registry.versions("v1")] == [manifest.model_version]
    assert registry.versions("v2") == []
    # Registering the same bundle again is a no-op, not a duplicate
    registry.register(trained["v1"].bundle_path)
    assert len(registry.versions("v1")) == 1
    assert len(registry.store.list("records/registration/v1/")) == 1
    bundle = registry.load("v1", manifest.model_version, tmp_path / "cache")
    assert bundle.manifest.model_version == manifest.model_version


def test_aliases_and_history(registry: Registry, trained, tmp_path: Path) -> None:
    v1 = trained["v1"].manifest.model_version
    other = registry.register(
        renamed_bundle(trained["v1"].bundle_path, tmp_path / "b", "v1-other")
    ).model_version
    record_gate(registry, "v1", other, passed=True, against=v1)
    assert registry.alias("v1", "champion") == v1
    assert registry.alias("v1", "challenger") is None
    registry.set_alias("v1", "challenger", other, reason="shadow it", actor="ada")
    registry.set_alias("v1", "challenger", None, reason="done", actor="bob")
    history = registry.history("v1")
    assert [(m.alias, m.model_version, m.actor, m.sequence) for m in history] == [
        ("champion", v1, "pytest", 1),
        ("challenger", other, "ada", 1),
        ("challenger", None, "bob", 2),
    ]
    assert history[-1].previous_version == other and history[-1].reason == "done"
    assert [m.rule for m in history] == ["first-champion", "gate-passed", "clear-challenger"]
    assert registry.alias("v1", "challenger") is None


def test_unknown_version_is_refused(registry: Registry) -> None:
    with pytest.raises(RuntimeError, match="v2 model v2-nope is not registered"):
        registry.set_alias("v2", "champion", "v2-nope", reason="typo")


def test_concurrent_alias_moves_keep_every_history_entry(registry: Registry, trained, tmp_path) -> None:
    champion = trained["v2"].manifest.model_version
    version = registry.register(
        renamed_bundle(trained["v2"].bundle_path, tmp_path / "c", "v2-c")
    ).model_version
    record_gate(registry, "v2", version, passed=True, against=champion)
    threads = [
        threading.Thread(
            target=registry.set_alias,
            args=("v2", "challenger", version if i % 2 else None),
            kwargs={"reason": f"move {i}", "actor": f"t{i}"},
        )
        for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    moves = registry.history("v2", "challenger")
    assert {m.reason for m in moves} == {f"move {i}" for i in range(20)}
    assert [m.sequence for m in moves] == list(range(1, 21))
    for before, after in zip([None, *moves], moves, strict=False):
        assert after.previous_version == (before.model_version if before else None)


def test_store_create_only_and_compare_and_swap(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("a/b.json", b"1", create_only=True)
    with pytest.raises(BlobExistsError):
        store.put("a/b.json", b"2", create_only=True)
    assert store.get("a/b.json") == b"1"
    with pytest.raises(ValueError, match="escapes"):
        store.get("../outside")
    assert store.list("a/") == ["a/b.json"]
    # compare-and-swap: only against the tag that was read
    store.swap("p.json", b"first", None)
    with pytest.raises(BlobConflictError):
        store.swap("p.json", b"again", None)
    found = store.get_tagged("p.json")
    assert found is not None
    store.swap("p.json", b"second", found[1])
    with pytest.raises(BlobConflictError):
        store.swap("p.json", b"stale", found[1])
    assert store.get("p.json") == b"second"
    assert store.list("") == ["a/b.json", "p.json"]  # no temporary or lock files listed


def test_manifests_are_never_edited(registry: Registry, trained) -> None:
    assert not hasattr(registry, "update_manifest")
    version = trained["v1"].manifest.model_version
    key = f"models/v1/{version}/manifest.json"
    edited = registry.store.get(key).replace(b'"threshold": ', b'"threshold": 0.0', 1)
    registry.store.put(key, edited)
    with pytest.raises(IntegrityError, match=r"manifest\.json has SHA-256 .* refusing a tampered manifest"):
        registry.manifest("v1", version)
    with pytest.raises(RegistryError):
        registry.versions("v1")

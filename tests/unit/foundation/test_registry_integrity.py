"""Tamper tests: a changed byte anywhere in the registry is refused at every place that loads from it.

The places: ``Registry.load`` / ``fetch`` / ``verify`` (the local server and the gate load through
them), the shadow scorer's challenger cache, the jobs' manifest lookup, a packaged bundle folder
as the Lambda function loads it, and the promotion policy reading gate and approval records.
Synth packaging is covered in tests/infra/test_packaging.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from propensity.bundle.io import BundleError, load_bundle
from propensity.promotion.approvals import approvals
from propensity.promotion.policy import PromotionError
from propensity.promotion.workflow import approve, promote, set_challenger
from propensity.registry.manifests import RegistryManifests
from propensity.registry.registry import IntegrityError, Registry
from propensity.registry.storage import LocalBlobStore
from propensity.shadow.challenger import ChallengerCache
from tests.evidence import record_gate, renamed_bundle


@pytest.fixture
def setup(tmp_path: Path, trained):
    """A registry with a champion, and a challenger that passed the gate and was approved."""
    registry = Registry(LocalBlobStore(tmp_path / "registry"))
    champion = registry.register(trained["v1"].bundle_path).model_version
    registry.set_alias("v1", "champion", champion, reason="first", actor="pytest")
    challenger = registry.register(
        renamed_bundle(trained["v1"].bundle_path, tmp_path / "c", "v1-challenger")
    ).model_version
    record_gate(registry, "v1", challenger, passed=True, against=champion)
    approve(registry, "v1", challenger, approver="Ada Lovelace", note="ok")
    return registry, champion, challenger


def flip(registry: Registry, key: str, offset: float = 0.5) -> None:
    """Change one byte of a stored object in place (bit 0 of the byte at ``offset`` of its length)."""
    data = bytearray(registry.store.get(key))
    index = int(len(data) * offset)
    data[index] ^= 0x01
    registry.store.put(key, bytes(data))


def bundle_keys(registry: Registry, version: str) -> list[str]:
    return registry.store.list(f"models/v1/{version}/")


def test_a_changed_byte_in_any_bundle_file_is_refused_everywhere(setup, tmp_path) -> None:
    registry, _champion, challenger = setup
    keys = bundle_keys(registry, challenger)
    assert {Path(k).name for k in keys} >= {"model.npz", "golden.json", "manifest.json"}
    for key in keys:
        original = registry.store.get(key)
        flip(registry, key)
        name = Path(key).name
        with pytest.raises(IntegrityError, match=name.replace(".", r"\.")):
            registry.verify("v1", challenger)
        with pytest.raises(IntegrityError, match=name.replace(".", r"\.")):
            registry.fetch("v1", challenger, tmp_path / f"fetched-{name}")
        with pytest.raises(IntegrityError):
            registry.load("v1", challenger, tmp_path / f"cache-{name}")
        with pytest.raises(PromotionError, match="cannot be used"):
            promote(registry, "v1", challenger, reason="tampered")
        registry.store.put(key, original)
    registry.verify("v1", challenger)  # restored: intact again


def test_an_edited_manifest_is_refused_by_every_loader(setup, tmp_path) -> None:
    # Given the attack of the issue: threshold 0.2 -> 0.01 in a registered manifest
    registry, _champion, challenger = setup
    key = f"models/v1/{challenger}/manifest.json"
    manifest = json.loads(registry.store.get(key))
    manifest["threshold"] = 0.01
    registry.store.put(key, json.dumps(manifest, indent=2).encode())

    # Then the registry, the jobs' lookup, the shadow scorer and the policy all refuse it, naming the file
    with pytest.raises(IntegrityError, match=rf"{challenger}/manifest\.json has SHA-256"):
        registry.manifest("v1", challenger)
    with pytest.raises(IntegrityError, match="manifest.json"):
        RegistryManifests(registry).manifest("v1", challenger)
    record_gate(registry, "v1", challenger, passed=True, against=registry.alias("v1", "champion"))
    with pytest.raises(PromotionError, match="manifest.json"):
        set_challenger(registry, "v1", challenger, reason="shadow")
    with pytest.raises(IntegrityError, match="manifest.json"):
        registry.load("v1", challenger, tmp_path / "cache")


def test_the_shadow_scorer_refuses_a_tampered_challenger(setup, tmp_path) -> None:
    registry, _champion, challenger = setup
    set_challenger(registry, "v1", challenger, reason="shadow it")
    cache = ChallengerCache(registry, tmp_path / "shadow", check_interval_seconds=0)
    assert cache.get("v1") is not None
    flip(registry, f"models/v1/{challenger}/model.npz")
    fresh = ChallengerCache(registry, tmp_path / "shadow-2", check_interval_seconds=0)
    with pytest.raises(IntegrityError, match=r"model\.npz"):
        fresh.get("v1")


def test_a_cached_copy_edited_on_disk_is_fetched_again(setup, tmp_path) -> None:
    registry, champion, _challenger = setup
    cache = tmp_path / "cache"
    registry.load("v1", champion, cache)
    manifest = cache / "v1" / champion / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"threshold": ', '"threshold": 0.0', 1))
    bundle = registry.load("v1", champion, cache)  # the registry's record wins, not the copy's
    assert bundle.manifest == registry.manifest("v1", champion)


def test_a_packaged_bundle_checks_its_manifest_against_its_registration(setup, tmp_path) -> None:
    # Given a bundle as synth packages it for Lambda (fetched, with REGISTRATION.json)
    registry, champion, _challenger = setup
    folder = registry.fetch("v1", champion, tmp_path / "model")
    assert load_bundle(folder, "v1").version == champion
    # When the manifest's calibration sign is flipped (0.101 would be served as 0.899)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["calibration"]["slope"] = -manifest["calibration"]["slope"]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    # Then the function's loader refuses it, naming the file
    with pytest.raises(BundleError, match=r"manifest\.json has SHA-256 .* refusing a tampered manifest"):
        load_bundle(folder, "v1")


@pytest.mark.parametrize("kind", ["registration", "gate", "approval", "alias"])
def test_a_changed_byte_in_any_record_is_refused(setup, kind) -> None:
    registry, _champion, challenger = setup
    subject = "champion" if kind == "alias" else challenger
    keys = registry.store.list(f"records/{kind}/v1/{subject}/")
    assert keys
    for offset in (0.3, 0.6, 0.9):
        original = registry.store.get(keys[0])
        flip(registry, keys[0], offset)
        with pytest.raises(IntegrityError, match=keys[0].split("/")[-1].replace(".", r"\.")):
            registry.read_record(keys[0])
        registry.store.put(keys[0], original)


def test_a_forged_gate_verdict_is_refused_by_the_policy(setup) -> None:
    # Given a failed verdict whose "passed" is edited to true afterwards
    registry, champion, challenger = setup
    other = challenger
    record_gate(registry, "v1", other, passed=False, against=champion, failures=["roc_auc"])
    newest = registry.store.list(f"records/gate/v1/{other}/")[-1]
    data = registry.store.get(newest).replace(b'"passed": false', b'"passed": true')
    registry.store.put(newest, data)
    # Then the policy does not act on a partial view: it refuses, naming the record
    with pytest.raises(PromotionError, match=newest.split("/")[-1]):
        promote(registry, "v1", other, reason="forged")
    assert registry.alias("v1", "champion") == champion


def test_a_forged_approval_and_a_copied_record_are_refused(setup, tmp_path) -> None:
    registry, champion, challenger = setup
    [key] = registry.store.list(f"records/approval/v1/{challenger}/")
    data = registry.store.get(key)
    # an approval copied under another model version's name
    registry.store.put(key.replace(challenger, champion), data)
    with pytest.raises(IntegrityError, match="copied under another name"):
        approvals(registry, "v1", champion)
    # an approver's name changed
    registry.store.put(key, data.replace(b"Ada Lovelace", b"Ada Lovelacf", 1))
    with pytest.raises(IntegrityError, match="seal"):
        approvals(registry, "v1", challenger)


def test_an_edited_alias_pointer_is_refused(setup) -> None:
    registry, champion, challenger = setup
    key = "aliases/v1/champion.json"
    registry.store.put(key, registry.store.get(key).replace(champion.encode(), challenger.encode()))
    with pytest.raises(IntegrityError, match=r"champion\.json"):
        registry.alias("v1", "champion")


def test_registry_verify_lists_what_it_refuses(setup, capsys) -> None:
    from propensity.cli import main

    registry, champion, challenger = setup
    assert main(["registry", "verify", "--registry", registry.store.location, "--api", "v1"]) == 0
    flip(registry, f"models/v1/{challenger}/golden.json")
    assert main(["registry", "verify", "--registry", registry.store.location, "--api", "v1"]) == 1
    out = capsys.readouterr().out
    assert f"ok      v1 {champion}" in out and f"REFUSED v1 {challenger}" in out and "golden.json" in out

"""The registry on S3 (moto): encrypted writes, aliases with history, concurrent moves, push and pull."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from propensity.bundle.manifest import ApprovalRecord
from propensity.registry.factory import open_registry
from propensity.registry.registry import Registry, RegistryError
from propensity.registry.s3 import S3BlobStore
from propensity.registry.storage import BlobExistsError
from propensity.registry.sync import pull, push
from tests.integration.promotion_aws import REGION, create_registry_bucket, use_fake_credentials

BUCKET = "propensity-registry-test"
PREFIX = "team/registry"


@pytest.fixture
def aws(monkeypatch):
    """moto for every AWS call in the test, with fake credentials and a region."""
    use_fake_credentials(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def bucket(aws):
    """A registry bucket as the team would create it: versioned, encrypted by default."""
    create_registry_bucket(BUCKET)
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def s3_registry(bucket) -> Registry:
    return open_registry(f"s3://{BUCKET}/{PREFIX}")


def test_store_round_trip_with_encryption_on_every_object(bucket):
    # Given an S3 store under a prefix
    store = S3BlobStore(BUCKET, PREFIX, client=bucket)

    # When blobs are written, one of them create-only
    store.put("models/v1/a/model.npz", b"artefact")
    store.put("aliases/v1/history/1.json", b"{}", create_only=True)

    # Then they read back, list relative to the prefix, and every object is encrypted at rest
    assert store.get("models/v1/a/model.npz") == b"artefact"
    assert store.list("") == ["aliases/v1/history/1.json", "models/v1/a/model.npz"]
    assert store.list("models/") == ["models/v1/a/model.npz"]
    assert store.exists("models/v1/a/model.npz") and not store.exists("models/v1/b/model.npz")
    with pytest.raises(KeyError):
        store.get("models/v1/missing")
    for key in bucket.list_objects_v2(Bucket=BUCKET)["Contents"]:
        assert key["Key"].startswith(f"{PREFIX}/")
        assert bucket.head_object(Bucket=BUCKET, Key=key["Key"])["ServerSideEncryption"] == "AES256"
    assert store.bucket_warnings() == []


def test_create_only_refuses_an_existing_key_through_a_conditional_write(bucket):
    # Given a history entry already written
    store = S3BlobStore(BUCKET, PREFIX, client=bucket)
    store.put("aliases/v1/history/entry.json", b"first", create_only=True)

    # When another writer tries to create the same key
    with pytest.raises(BlobExistsError):
        store.put("aliases/v1/history/entry.json", b"second", create_only=True)

    # Then the first entry is intact
    assert store.get("aliases/v1/history/entry.json") == b"first"


def test_kms_key_is_used_when_given(bucket):
    # Given a store configured with a KMS key
    store = S3BlobStore(BUCKET, PREFIX, client=bucket, kms_key_id="alias/propensity-registry")

    # When it writes
    store.put("models/v1/a/manifest.json", b"{}")

    # Then the object is encrypted with that key
    head = bucket.head_object(Bucket=BUCKET, Key=f"{PREFIX}/models/v1/a/manifest.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/propensity-registry")


def test_bucket_warnings_name_missing_versioning_and_encryption(aws):
    # Given a bare bucket
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bare-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})

    # When it is checked as a registry bucket
    warnings = S3BlobStore("bare-bucket", "", client=s3).bucket_warnings()

    # Then both gaps are named
    assert any("not versioned" in w for w in warnings)
    assert any("no default encryption" in w for w in warnings)


def test_registry_on_s3_registers_loads_and_moves_aliases(s3_registry, trained, tmp_path):
    # Given the S3 registry (opened from an s3:// location) and a trained bundle
    assert isinstance(s3_registry.store, S3BlobStore)
    manifest = s3_registry.register(trained["v1"].bundle_path)

    # When the champion is set, a challenger set, then cleared
    s3_registry.set_alias("v1", "champion", manifest.model_version, reason="first model", actor="ada")
    s3_registry.set_alias("v1", "challenger", manifest.model_version, reason="try it", actor="ada")
    s3_registry.set_alias("v1", "challenger", None, reason="done", actor="bob")

    # Then the bundle loads and verifies from S3, and the aliases and their history are exact
    bundle = s3_registry.load("v1", manifest.model_version, tmp_path / "cache")
    assert bundle.version == manifest.model_version
    assert [m.model_version for m in s3_registry.versions("v1")] == [manifest.model_version]
    assert s3_registry.alias("v1", "champion") == manifest.model_version
    assert s3_registry.alias("v1", "challenger") is None
    history = s3_registry.history("v1")
    assert [(m.alias, m.model_version, m.actor, m.reason) for m in history] == [
        ("champion", manifest.model_version, "ada", "first model"),
        ("challenger", manifest.model_version, "ada", "try it"),
        ("challenger", None, "bob", "done"),
    ]
    assert history[-1].previous_version == manifest.model_version


def test_concurrent_alias_moves_keep_every_history_entry(s3_registry, trained):
    # Given two registered versions on S3
    first = s3_registry.register(trained["v1"].bundle_path).model_version
    second = s3_registry.register(trained["v2"].bundle_path).model_version
    targets = {"v1": first, "v2": second}
    errors: list[BaseException] = []

    # When 8 people move aliases at the same time, 5 moves each
    def mover(person: int) -> None:
        try:
            for move in range(5):
                api = "v1" if (person + move) % 2 else "v2"
                s3_registry.set_alias(
                    api, "challenger", targets[api], reason=f"person {person} move {move}", actor=f"p{person}"
                )
        except BaseException as error:  # surfaced below, a thread cannot fail the test itself
            errors.append(error)

    threads = [threading.Thread(target=mover, args=(person,)) for person in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then no move was lost or overwritten: all 40 are in the history, each once
    assert errors == []
    reasons = sorted(m.reason for api in ("v1", "v2") for m in s3_registry.history(api))
    assert reasons == sorted(f"person {p} move {m}" for p in range(8) for m in range(5))
    assert s3_registry.alias("v1", "challenger") == first
    assert s3_registry.alias("v2", "challenger") == second


def test_push_then_pull_merges_records_and_history(registry, s3_registry):
    # Given the local registry (both champions) pushed to the empty S3 registry
    result = push(registry, s3_registry)
    assert len(result.versions_copied) == 2
    assert result.alias_moves_copied == 2
    version = registry.alias("v1", "champion")
    assert s3_registry.alias("v1", "champion") == version
    assert s3_registry.manifest("v1", version) == registry.manifest("v1", version)

    # When someone approves on the shared registry and moves an alias there, while a local
    # move happens too
    shared = s3_registry.manifest("v1", version)
    approval = ApprovalRecord(approver="Grace Hopper", at=shared.created_at, note="reviewed")
    s3_registry.update_manifest(shared.model_copy(update={"approvals": [approval]}))
    s3_registry.set_alias("v1", "challenger", version, reason="shadow on shared", actor="grace")
    registry.set_alias(
        "v2", "challenger", registry.alias("v2", "champion"), reason="local shadow", actor="me"
    )
    pulled = pull(registry, s3_registry)
    pushed = push(registry, s3_registry)

    # Then both sides hold the approval and both moves; nothing is copied twice
    assert pulled.manifests_merged == [version] and pulled.alias_moves_copied == 1
    assert pushed.versions_copied == [] and pushed.alias_moves_copied == 1
    assert registry.manifest("v1", version).approvals == [approval]
    for side in (registry, s3_registry):
        assert side.alias("v1", "challenger") == version
        assert side.alias("v2", "challenger") == registry.alias("v2", "champion")
        assert len(side.history("v1")) == 2 and len(side.history("v2")) == 2
    assert push(registry, s3_registry).alias_moves_copied == 0


def test_push_refuses_a_version_that_differs_beyond_its_records(registry, s3_registry):
    # Given the shared registry holding a v1 version whose manifest differs from the local one
    push(registry, s3_registry)
    version = registry.alias("v1", "champion")
    key = f"models/v1/{version}/manifest.json"
    tampered = s3_registry.manifest("v1", version).model_copy(update={"threshold": 0.99})
    s3_registry.store.put(key, tampered.model_dump_json().encode())

    # Then syncing refuses instead of silently picking a side
    with pytest.raises(RegistryError, match="differs between the registries"):
        push(registry, s3_registry)

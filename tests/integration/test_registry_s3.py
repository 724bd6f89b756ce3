"""The registry on S3 (moto): encrypted writes, aliases with history, concurrent moves, push and pull."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from propensity.promotion.approvals import approvals
from propensity.promotion.workflow import approve
from propensity.registry.factory import open_registry
from propensity.registry.registry import IntegrityError, Registry
from propensity.registry.s3 import S3BlobStore
from propensity.registry.signing import KmsSigner
from propensity.registry.storage import BlobConflictError, BlobExistsError
from propensity.registry.sync import pull, push
from tests.evidence import record_gate, renamed_bundle
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
    # Given the S3 registry (opened from an s3:// location, signing with KMS) and a trained bundle
    assert isinstance(s3_registry.store, S3BlobStore)
    assert isinstance(s3_registry.signer, KmsSigner)
    manifest = s3_registry.register(trained["v1"].bundle_path)
    other = s3_registry.register(
        renamed_bundle(trained["v1"].bundle_path, tmp_path / "other", "v1-other")
    ).model_version

    # When the champion is set, a gated challenger set, then cleared
    s3_registry.set_alias("v1", "champion", manifest.model_version, reason="first model", actor="ada")
    record_gate(s3_registry, "v1", other, passed=True, against=manifest.model_version)
    s3_registry.set_alias("v1", "challenger", other, reason="try it", actor="ada")
    s3_registry.set_alias("v1", "challenger", None, reason="done", actor="bob")

    # Then the bundle loads and verifies from S3, and the aliases and their history are exact
    bundle = s3_registry.load("v1", manifest.model_version, tmp_path / "cache")
    assert bundle.version == manifest.model_version
    assert [m.model_version for m in s3_registry.versions("v1")] == [manifest.model_version, other]
    assert s3_registry.alias("v1", "champion") == manifest.model_version
    assert s3_registry.alias("v1", "challenger") is None
    history = s3_registry.history("v1")
    assert [(m.alias, m.model_version, m.actor, m.reason) for m in history] == [
        ("champion", manifest.model_version, "ada", "first model"),
        ("challenger", other, "ada", "try it"),
        ("challenger", None, "bob", "done"),
    ]
    assert history[-1].previous_version == other
    # and every record is signed by the registry's KMS key
    record = s3_registry.registration("v1", other).record
    assert record.seal.mode == "kms" and record.seal.key_id == s3_registry.signer.key_arn


def test_bucket_write_access_alone_cannot_forge_a_record(s3_registry, trained):
    # Given a registered version on S3
    version = s3_registry.register(trained["v1"].bundle_path).model_version
    s3_registry.set_alias("v1", "champion", version, reason="first", actor="ada")

    # When someone with write access to the bucket (but no kms:Sign) writes records sealed with a
    # digest, with another key, or edits a signed one
    forger = Registry(s3_registry.store)  # digest seals: what a writer without the key can produce
    forged = forger.put_record("approval", "v1", version, {"approver": "mallory"}, name="mallory")
    kms = boto3.client("kms", region_name=REGION)
    other_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    Registry(s3_registry.store, KmsSigner(other_key)).put_record(
        "approval", "v1", version, {"approver": "eve"}, name="eve"
    )

    # Then the registry refuses each one, naming the object
    with pytest.raises(IntegrityError, match="mallory.json is refused: sealed with 'sha256'"):
        s3_registry.read_record(forged.key)
    with pytest.raises(IntegrityError, match="eve.json is refused: signed by"):
        s3_registry.read_record(forged.key.replace("mallory", "eve"))
    key = s3_registry.registration("v1", version).record.key
    s3_registry.store.put(
        key, s3_registry.store.get(key).replace(b'"manifest_sha256": "', b'"manifest_sha256": "0', 1)
    )
    with pytest.raises(IntegrityError, match="registration.json"):
        s3_registry.manifest("v1", version)


def test_alias_pointer_moves_only_against_the_etag_it_read(bucket):
    # Given a pointer object on S3
    store = S3BlobStore(BUCKET, PREFIX, client=bucket)
    store.swap("aliases/v1/champion.json", b"one", None)
    with pytest.raises(BlobConflictError):
        store.swap("aliases/v1/champion.json", b"again", None)  # If-None-Match: it exists
    _data, etag = store.get_tagged("aliases/v1/champion.json")

    # When two writers swap against the same ETag, only the first wins (If-Match)
    store.swap("aliases/v1/champion.json", b"two", etag)
    with pytest.raises(BlobConflictError):
        store.swap("aliases/v1/champion.json", b"stale", etag)
    assert store.get("aliases/v1/champion.json") == b"two"


def test_push_then_pull_copies_bundles_and_records_resigned(registry, s3_registry, trained, tmp_path):
    # Given the local registry (both champions, digest seals) pushed to the empty S3 registry
    result = push(registry, s3_registry)
    assert len(result.versions_copied) == 2
    version = registry.alias("v1", "champion")
    assert s3_registry.manifest("v1", version) == registry.manifest("v1", version)
    assert s3_registry.registration("v1", version).record.seal.mode == "kms"
    # aliases are not copied: each registry moves its own through its policy
    assert s3_registry.alias("v1", "champion") is None

    # When someone approves on the shared registry, and someone else locally
    s3_registry.set_alias("v1", "champion", version, reason="first on shared", actor="grace")
    approve(s3_registry, "v1", version, approver="Grace Hopper", note="reviewed")
    approve(registry, "v1", version, approver="Ada Lovelace", note="reviewed too")
    pulled = pull(registry, s3_registry)
    pushed = push(registry, s3_registry)

    # Then both sides hold both approvals, each sealed by its own registry; nothing is copied twice
    assert pulled.kinds == {"approval": 1} and pushed.kinds == {"approval": 1}
    for side in (registry, s3_registry):
        assert sorted(a.approver for a in approvals(side, "v1", version)) == ["Ada Lovelace", "Grace Hopper"]
    assert push(registry, s3_registry).records_copied == 0


def test_push_refuses_a_version_registered_differently_and_a_tampered_source(registry, s3_registry):
    # Given the shared registry holding a v1 version whose manifest differs from the local one
    push(registry, s3_registry)
    version = registry.alias("v1", "champion")
    key = f"models/v1/{version}/manifest.json"
    s3_registry.store.put(key, s3_registry.store.get(key).replace(b'"threshold": ', b'"threshold": 0.9', 1))

    # Then pulling refuses instead of silently copying a tampered manifest
    with pytest.raises(IntegrityError, match=r"manifest\.json"):
        pull(registry, s3_registry)

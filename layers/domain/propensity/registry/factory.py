"""Choose the registry backend (and how its records are sealed) once, from a location string."""

from __future__ import annotations

import os
from pathlib import Path

from propensity.registry.registry import Registry
from propensity.registry.signing import SIGNING_KEY_ENV
from propensity.registry.storage import LocalBlobStore

REGISTRY_ENV = "PROPENSITY_REGISTRY"
DEFAULT_REGISTRY = Path(".local/registry")


def signing_key_alias(bucket: str) -> str:
    """The KMS alias the registry stack gives a bucket's signing key (infra/stacks/registry_stack.py)."""
    return f"alias/{bucket}-signing"


def open_registry(location: str | None = None, *, signing_key: str | None = None) -> Registry:
    """A folder path (the embedded default: digest seals) or ``s3://bucket/prefix`` (KMS signatures).

    The S3 registry's key is ``signing_key``, else ``$PROPENSITY_REGISTRY_SIGNING_KEY`` (the
    deployed functions get the key's ARN there), else the bucket's conventional alias.
    """
    where = location or os.environ.get(REGISTRY_ENV) or str(DEFAULT_REGISTRY)
    if where.startswith("s3://"):
        # boto3 only when S3 is asked for
        from propensity.registry.s3 import S3BlobStore
        from propensity.registry.signing import KmsSigner

        bucket, _, prefix = where.removeprefix("s3://").partition("/")
        store = S3BlobStore(bucket, prefix)
        key = signing_key or os.environ.get(SIGNING_KEY_ENV) or signing_key_alias(bucket)
        return Registry(store, KmsSigner(key))
    return Registry(LocalBlobStore(Path(where)))

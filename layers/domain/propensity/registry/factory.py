"""Choose the registry backend once, from a location string."""

from __future__ import annotations

import os
from pathlib import Path

from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore

REGISTRY_ENV = "PROPENSITY_REGISTRY"
DEFAULT_REGISTRY = Path(".local/registry")


def open_registry(location: str | None = None) -> Registry:
    """A folder path (the embedded default) or ``s3://bucket/prefix``."""
    where = location or os.environ.get(REGISTRY_ENV) or str(DEFAULT_REGISTRY)
    if where.startswith("s3://"):
        from propensity.registry.s3 import S3BlobStore  # boto3 only when S3 is asked for

        bucket, _, prefix = where.removeprefix("s3://").partition("/")
        return Registry(S3BlobStore(bucket, prefix))
    return Registry(LocalBlobStore(Path(where)))

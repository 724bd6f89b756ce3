"""The registry's S3 backend: the same ``BlobStore`` interface over an encrypted, versioned bucket.

Every object is written with server-side encryption (SSE-S3, or SSE-KMS when a key is given),
so the registry stays encrypted even in a bucket whose default encryption is missing.

Create-only writes (every record) use S3 conditional writes (``If-None-Match: *``): S3 refuses
the second writer atomically with 412 Precondition Failed. Alias pointers move by
compare-and-swap (``If-Match`` on the ETag read before): a writer whose read is stale gets 412
and must read again, so no move is ever based on a pointer that was already replaced. moto 5.2
implements both checks, which is what the tests exercise.
"""

from __future__ import annotations

import builtins
import time
from typing import Any

from propensity.registry.storage import BlobConflictError, BlobExistsError, BlobStore

# S3 answers 409 ConditionalRequestConflict when another conditional write to the same key is
# in flight; the documented remedy is to retry.
CONFLICT_RETRIES = 3
CONFLICT_BACKOFF_SECONDS = 0.2


class S3BlobStore(BlobStore):
    """Blobs under ``s3://bucket/prefix/``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 registry needs a bucket name: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.kms_key_id = kms_key_id
        if client is None:
            import boto3  # only when S3 is used: the local registry needs no AWS SDK

            client = boto3.client("s3")
        self.client = client

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"key escapes the store: {key}")
        return self.prefix + key

    def _encryption(self) -> dict[str, str]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as error:
            raise KeyError(key) from error
        data: bytes = response["Body"].read()
        return data

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        data: bytes = response["Body"].read()
        return data, str(response["ETag"])

    def swap(self, key: str, data: bytes, expected: str | None) -> None:
        from botocore.exceptions import ClientError

        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            self._put_with_retries(
                {
                    "Bucket": self.bucket,
                    "Key": self._key(key),
                    "Body": data,
                    **self._encryption(),
                    **condition,
                }
            )
        except ClientError as error:
            # 412: the ETag moved (or the object appeared); 404: it vanished since it was read.
            if _status(error) in (412, 404):
                raise BlobConflictError(key) from error
            raise

    def _put_with_retries(self, arguments: dict[str, Any]) -> None:
        from botocore.exceptions import ClientError

        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self.client.put_object(**arguments)
                return
            except ClientError as error:
                if _status(error) == 409 and attempt < CONFLICT_RETRIES:
                    time.sleep(CONFLICT_BACKOFF_SECONDS * (attempt + 1))
                    continue
                raise

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _status(error) == 404:
                return False
            raise
        return True

    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        from botocore.exceptions import ClientError

        arguments: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "Body": data,
            **self._encryption(),
        }
        if create_only:
            arguments["IfNoneMatch"] = "*"
        try:
            self._put_with_retries(arguments)
        except ClientError as error:
            if create_only and _status(error) == 412:
                raise BlobExistsError(key) from error
            raise

    def list(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)

    def bucket_warnings(self) -> builtins.list[str]:
        """What is missing for a registry bucket: versioning and default encryption (empty when fine)."""
        from botocore.exceptions import ClientError

        warnings: builtins.list[str] = []
        versioning = self.client.get_bucket_versioning(Bucket=self.bucket)
        if versioning.get("Status") != "Enabled":
            warnings.append(
                f"bucket {self.bucket} is not versioned: an overwritten or deleted bundle cannot be recovered"
            )
        try:
            self.client.get_bucket_encryption(Bucket=self.bucket)
        except ClientError as error:
            if _code(error) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            warnings.append(
                f"bucket {self.bucket} has no default encryption (the registry encrypts its own writes)"
            )
        return warnings


def _status(error: Any) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))

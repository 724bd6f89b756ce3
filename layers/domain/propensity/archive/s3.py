"""The archive on S3: the bucket Firehose writes to, read and written by the monitoring jobs."""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from propensity.archive.store import ArchiveStore, ObjectInfo
from propensity.registry.storage import BlobExistsError


class S3ArchiveStore(ArchiveStore):
    """Objects under ``s3://bucket/prefix``; keys are relative to the prefix."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3")

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + key

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as error:
            raise KeyError(key) from error
        return cast(bytes, response["Body"].read())

    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        extra: dict[str, str] = {"IfNoneMatch": "*"} if create_only else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
        except self.client.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if create_only and code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise BlobExistsError(key) from error
            raise

    def list_objects(self, prefix: str) -> list[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                found.append(ObjectInfo(key, int(item["Size"]), str(item["ETag"]).strip('"')))
        return sorted(found, key=lambda info: info.key)

    def open_read(self, key: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as error:
            raise KeyError(key) from error
        # botocore's StreamingBody has read() and close(): all gzip and our readers need.
        return cast(BinaryIO, response["Body"])

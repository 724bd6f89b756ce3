"""The AWS implementations' clients, built in one place (the only boto3 imports of alerting)."""

from __future__ import annotations

from typing import Any

from propensity.alerting.digest_source import CloudWatchDigestSource, SnsEmailPublisher
from propensity.alerting.secrets import SecretsManagerStore


def _client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region)


def secrets_manager_store(region: str | None = None) -> SecretsManagerStore:
    """Secrets Manager; the client is built on the first read, not at import."""
    return SecretsManagerStore(lambda: _client("secretsmanager", region))


def cloudwatch_digest_source(region: str | None = None) -> CloudWatchDigestSource:
    return CloudWatchDigestSource(_client("cloudwatch", region))


def sns_email_publisher(topic_arn: str, region: str | None = None) -> SnsEmailPublisher:
    return SnsEmailPublisher(_client("sns", region), topic_arn)

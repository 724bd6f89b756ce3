"""Secrets (PagerDuty routing key, Slack webhook URL, probe API key) behind a small interface.

Secrets Manager in AWS, a plain mapping locally and in unit tests; chosen once at start-up.
Values are fetched on first use and cached for the life of the execution environment, so a
burst of alarms costs one Secrets Manager call, not one per alarm.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any


class SecretError(RuntimeError):
    """A secret is missing, empty or unreadable."""


class SecretStore(ABC):
    @abstractmethod
    def get(self, name: str) -> str:
        """The secret's value; :class:`SecretError` if it cannot be read."""


class StaticSecretStore(SecretStore):
    """Secrets given up front (local runs and unit tests)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> str:
        if not self._values.get(name):
            raise SecretError(f"secret {name!r} is not set")
        return self._values[name]


class SecretsManagerStore(SecretStore):
    """AWS Secrets Manager, cached per name.

    A secret may hold the bare value, or a JSON object with exactly one string field (the
    console's key/value editor writes that shape); both read the same.
    """

    def __init__(self, client: Any | Callable[[], Any]) -> None:
        # A factory is accepted so the boto3 client is built on first use, not at import.
        self._client_or_factory = client
        self._client: Any = None
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = self._fetch(name)
            return self._cache[name]

    def _fetch(self, name: str) -> str:
        if self._client is None:
            source = self._client_or_factory
            self._client = (
                source() if callable(source) and not hasattr(source, "get_secret_value") else source
            )
        try:
            response = self._client.get_secret_value(SecretId=name)
        except Exception as error:  # botocore raises ClientError subclasses built at run time
            raise SecretError(f"cannot read secret {name!r}: {error}") from error
        value = str(response.get("SecretString") or "").strip()
        if value.startswith("{"):
            try:
                fields = json.loads(value)
            except json.JSONDecodeError:
                fields = None
            if isinstance(fields, dict) and len(fields) == 1 and isinstance(next(iter(fields.values())), str):
                value = next(iter(fields.values())).strip()
        if not value:
            raise SecretError(f"secret {name!r} is empty")
        return value

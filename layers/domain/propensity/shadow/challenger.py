"""The registry's ``challenger`` per API version, followed without a deploy.

The shadow scorer asks for the challenger on every archive object; the alias is looked up
again once ``check_interval_seconds`` have passed, and the bundle is reloaded only when the
alias points somewhere new. Moving the alias (``propensity alias challenger ...``) is
therefore all it takes to shadow another model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from propensity.bundle.io import Bundle
from propensity.constants import ApiVersion
from propensity.observability import logger
from propensity.registry.registry import Registry


@dataclass
class _Entry:
    version: str | None
    bundle: Bundle | None
    checked_at: float


class ChallengerCache:
    """Loaded challengers by API version; reloads when the alias moves."""

    def __init__(
        self,
        registry: Registry,
        cache_dir: Path,
        check_interval_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.cache_dir = cache_dir
        self.check_interval_seconds = check_interval_seconds
        self.clock = clock
        self.loads = 0  # how many bundles were (re)loaded: tests and logs read it
        self._entries: dict[ApiVersion, _Entry] = {}

    def get(self, api_version: ApiVersion) -> Bundle | None:
        """The current challenger of ``api_version`` (``None`` when the alias is unset)."""
        now = self.clock()
        entry = self._entries.get(api_version)
        if entry is not None and now - entry.checked_at < self.check_interval_seconds:
            return entry.bundle
        version = self.registry.alias(api_version, "challenger")
        if entry is not None and entry.version == version:
            entry.checked_at = now
            return entry.bundle
        bundle = self.registry.load(api_version, version, self.cache_dir) if version is not None else None
        if bundle is not None:
            self.loads += 1
        logger.info(
            "challenger alias resolved",
            extra={
                "api_version": api_version,
                "previous": entry.version if entry else None,
                "challenger": version,
            },
        )
        self._entries[api_version] = _Entry(version, bundle, now)
        return bundle

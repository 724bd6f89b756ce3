"""Who is calling: the consumer name behind a request, from the local configuration.

Deployed, API Gateway checks the ``x-api-key`` header against the stage's usage plans and
passes the key's id in ``requestContext.identity.apiKeyId``; the infrastructure maps each id
to its consumer name at synth (``CONSUMER_KEY_IDS``). Locally there is no API Gateway: the
server reads the header itself and maps key values to names (``PROPENSITY_CONSUMERS``).

A key outside the map is ``unknown``, so the ``Consumer`` metric dimension stays bounded by
the stage's consumer list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from propensity.constants import API_KEY_HEADER
from propensity.service.core.http import Incoming
from propensity.service.settings import ConsumerSource

UNKNOWN_CONSUMER: Final[str] = "unknown"


@dataclass(frozen=True)
class ConsumerDirectory:
    """Key (or key id) to consumer name, and where the key is read from."""

    names: Mapping[str, str]
    source: ConsumerSource

    def identify(self, incoming: Incoming) -> str | None:
        """The caller's name, ``unknown`` for an unmapped key, ``None`` without any key.

        Both front ends hand over the same ``Incoming``: API Gateway's key id is
        ``incoming.consumer`` (the Lambda event, or the event under Mangum), the header is in
        ``incoming.headers`` (lower-case names).
        """
        key = incoming.consumer if self.source == "api_key_id" else incoming.headers.get(API_KEY_HEADER)
        if not isinstance(key, str) or not key:
            return None
        return self.names.get(key, UNKNOWN_CONSUMER)


def metric_label(consumer: str | None) -> str:
    """The ``Consumer`` dimension: the name, or ``unknown`` for a call without a known key."""
    return consumer or UNKNOWN_CONSUMER

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
from typing import Any, Final

from starlette.requests import Request

from propensity.constants import API_KEY_HEADER
from propensity.service.settings import ConsumerSource

UNKNOWN_CONSUMER: Final[str] = "unknown"


@dataclass(frozen=True)
class ConsumerDirectory:
    """Key (or key id) to consumer name, and where the key is read from."""

    names: Mapping[str, str]
    source: ConsumerSource

    def identify(self, request: Request, event: Any = None) -> str | None:
        """The caller's name, ``unknown`` for an unmapped key, ``None`` without any key."""
        if self.source == "api_key_id":
            context = event.get("requestContext") if isinstance(event, dict) else None
            identity = context.get("identity") if isinstance(context, dict) else None
            key = identity.get("apiKeyId") if isinstance(identity, dict) else None
        else:
            key = request.headers.get(API_KEY_HEADER)
        if not isinstance(key, str) or not key:
            return None
        return self.names.get(key, UNKNOWN_CONSUMER)


def metric_label(consumer: str | None) -> str:
    """The ``Consumer`` dimension: the name, or ``unknown`` for a call without a known key."""
    return consumer or UNKNOWN_CONSUMER

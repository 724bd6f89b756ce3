"""API Gateway REST proxy events (payload format 1.0) for invoking a prediction function directly.

The hooks call the function the way API Gateway does, so the answer they judge is byte for byte
what a consumer would get (headers included), minus the network.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from propensity.constants import SYNTHETIC_HEADER

HOOK_USER_AGENT = "propensity-deployment-hook"
# The PredictionEvents of golden replays name this consumer, so downstream jobs can tell them
# from consumer traffic (the service takes the consumer from the API key id).
HOOK_CONSUMER = "propensity-deployment-hook"
HOOK_SENDER = "deployment-hook"  # the synthetic header's value: who sent the request


def proxy_event(
    method: str, path: str, body: Any = None, *, stage: str = "deployment-check"
) -> dict[str, Any]:
    """A REST proxy event for ``method path`` with a JSON body (``None`` for no body)."""
    request_id = f"hook-{uuid.uuid4()}"
    headers = {
        "content-type": "application/json",
        "accept": "application/json",
        "user-agent": HOOK_USER_AGENT,
        # Golden replays are not traffic: the event records the header (``synthetic``) so drift,
        # shadow and evaluation leave them out.
        SYNTHETIC_HEADER: HOOK_SENDER,
    }
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": request_id,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": HOOK_USER_AGENT, "apiKeyId": HOOK_CONSUMER},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }

"""Judge one answer of a prediction function: HTTP status, the API contract, the golden outputs.

Every check returns a list of problems (empty when the answer is right), worded for the
deployment's log so an operator sees at once why a version was refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError

from propensity.bundle.golden import GoldenCase
from propensity.constants import ApiVersion
from propensity.deployment.ports import Invocation
from propensity.service.v1.deprecation import deprecation_headers
from propensity.service.v1.models import V1PredictResponse
from propensity.service.v2.models import V2PredictResponse

DECISION_FIELD: dict[ApiVersion, str] = {"v1": "prediction", "v2": "decision"}
RESPONSE_MODELS: dict[ApiVersion, type[BaseModel]] = {"v1": V1PredictResponse, "v2": V2PredictResponse}
# The v1 contract (CONTRACT-v1.md) fixes the fields exactly; v2's model may grow.
V1_FIELDS = frozenset(V1PredictResponse.model_fields)


@dataclass
class HttpAnswer:
    """A proxy response as a consumer would see it."""

    status: int
    headers: dict[str, str]
    body: Any
    problems: list[str] = field(default_factory=list)


def http_answer(invocation: Invocation) -> HttpAnswer:
    """Unwrap an API Gateway proxy response from a Lambda invocation (problems when it is not one)."""
    if invocation.function_error:
        detail = (
            invocation.payload.get("errorMessage")
            if isinstance(invocation.payload, dict)
            else invocation.payload
        )
        return HttpAnswer(0, {}, None, [f"the function failed ({invocation.function_error}): {detail}"])
    payload = invocation.payload
    if not isinstance(payload, dict) or "statusCode" not in payload:
        return HttpAnswer(0, {}, None, [f"not an API Gateway proxy response: {str(payload)[:200]}"])
    headers = {str(k).lower(): str(v) for k, v in (payload.get("headers") or {}).items()}
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        if values:
            headers.setdefault(str(name).lower(), ", ".join(str(v) for v in values))
    raw = payload.get("body")
    try:
        body = json.loads(raw) if isinstance(raw, str) and raw else raw
    except ValueError:
        return HttpAnswer(int(payload["statusCode"]), headers, raw, [f"body is not JSON: {str(raw)[:200]}"])
    return HttpAnswer(int(payload["statusCode"]), headers, body)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def check_contract(
    api: ApiVersion,
    answer: HttpAnswer,
    expected_model_version: str,
    v1_dates: tuple[date, date] | None = None,
) -> list[str]:
    """The answer has the shape the API version promises: the service's own response model,
    v1's exact field set and its deprecation headers (exact values when ``v1_dates`` is given)."""
    body = answer.body
    if not isinstance(body, dict):
        return [f"body is not a JSON object: {str(body)[:200]}"]
    problems = []
    try:
        RESPONSE_MODELS[api].model_validate(body)
    except ValidationError as error:
        for item in error.errors():
            location = ".".join(str(part) for part in item["loc"]) or "body"
            problems.append(f"{api} contract: {location}: {item['msg']}")
    if api == "v1":
        if set(body) != V1_FIELDS:
            problems.append(f"v1 fields are {sorted(body)}, the contract fixes {sorted(V1_FIELDS)}")
        problems.extend(_deprecation_problems(answer.headers, v1_dates))
    elif body.get("model_version") != expected_model_version:
        problems.append(
            f"model_version is {body.get('model_version')!r}, the deployment ships {expected_model_version}"
        )
    return problems


def _deprecation_problems(headers: dict[str, str], v1_dates: tuple[date, date] | None) -> list[str]:
    expected = deprecation_headers(*(v1_dates or (date.today(), date.today())))
    problems = []
    for name, value in expected.items():
        actual = headers.get(name.lower())
        if actual is None:
            problems.append(f"v1 deprecation header {name} is missing")
        elif v1_dates is not None and actual != value:
            problems.append(f"v1 header {name} is {actual!r}, configured {value!r}")
    return problems


def check_golden(api: ApiVersion, answer: HttpAnswer, case: GoldenCase, tolerance: float) -> list[str]:
    """The answer equals the golden case's expected output (probability within ``tolerance``)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    problems = []
    probability = _number(body.get("probability"))
    if probability is not None and abs(probability - case.probability) > tolerance:
        problems.append(
            f"probability {probability:.6f}, expected {case.probability:.6f} (tolerance {tolerance:g})"
        )
    decision = body.get(DECISION_FIELD[api])
    if decision != case.decision:
        problems.append(f"decision {decision!r}, expected {case.decision!r}")
    if body.get("confidence") != case.confidence:
        problems.append(f"confidence {body.get('confidence')!r}, expected {case.confidence!r}")
    return problems


def check_prediction(
    api: ApiVersion,
    invocation: Invocation,
    case: GoldenCase,
    *,
    tolerance: float,
    expected_model_version: str,
    v1_dates: tuple[date, date] | None = None,
) -> list[str]:
    """Everything about one golden replay: status 200, contract, expected outputs."""
    answer = http_answer(invocation)
    if answer.problems:
        return answer.problems
    if answer.status != 200:
        return [f"HTTP {answer.status}: {str(answer.body)[:300]}"]
    problems = check_contract(api, answer, expected_model_version, v1_dates)
    return problems + check_golden(api, answer, case, tolerance)


def check_health(invocation: Invocation) -> list[str]:
    """``GET /health`` answers 200 with status "ok"."""
    answer = http_answer(invocation)
    if answer.problems:
        return answer.problems
    status = answer.body.get("status") if isinstance(answer.body, dict) else None
    if answer.status != 200 or status != "ok":
        return [f"/health answered HTTP {answer.status} with status {status!r}: {str(answer.body)[:300]}"]
    return []

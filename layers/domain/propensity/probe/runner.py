"""One probe run: /health, then golden requests on every API version, judged and timed.

The answers are judged by the same checks the deployment hooks use
(``propensity.deployment.checks``): status, the API contract, the golden outputs. The probe
adds latency, and tolerates a model version other than its golden set's while a canary or a
rollback is in progress: it then checks the contract only, and says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from propensity.alerting.http import HttpResponse, TransportError, request_json
from propensity.bundle.golden import GoldenCase, GoldenSet
from propensity.constants import API_KEY_HEADER, MODEL_VERSION_HEADER, SYNTHETIC_HEADER, ApiVersion
from propensity.deployment.checks import HttpAnswer, check_contract, check_golden, check_health
from propensity.deployment.ports import Invocation
from propensity.probe.golden import rotate
from propensity.probe.settings import ProbeSettings
from propensity.service.v1.models import V1PredictResponse
from propensity.service.v2.models import V2PredictResponse

CheckName = Literal["health", "v1", "v2"]
# The header a prediction response names its model version in, when the body does not.
PROBE_USER_AGENT = "propensity-synthetic-probe"
PROBE_SENDER = "probe"  # the synthetic header's value: who sent the request

Http = Callable[..., HttpResponse]
RESPONSE_MODELS: dict[ApiVersion, type[BaseModel]] = {"v1": V1PredictResponse, "v2": V2PredictResponse}


def strict_types(api: ApiVersion, body: Any) -> list[str]:
    """Fields whose JSON type is not the schema's (a string where a number is promised)."""
    try:
        RESPONSE_MODELS[api].model_validate(body, strict=True)
    except ValidationError as error:
        return [f"{api} response: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
    return []


class CheckResult(BaseModel):
    """One request of a probe run and its verdict."""

    check: CheckName
    case: str
    ok: bool
    status: int | None = None
    latency_ms: Annotated[float | None, Field(ge=0)] = None
    served_model_version: str | None = None
    golden_compared: bool = False
    problems: list[str] = Field(default_factory=list)


class ProbeReport(BaseModel):
    """Every check of one run."""

    started_at: datetime
    api_url: str
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def requests(self) -> int:
        return len(self.results)

    def checks(self) -> dict[CheckName, list[CheckResult]]:
        grouped: dict[CheckName, list[CheckResult]] = {}
        for result in self.results:
            grouped.setdefault(result.check, []).append(result)
        return grouped

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]


class Prober:
    """Sends the probe's requests to one API base URL."""

    def __init__(self, settings: ProbeSettings, *, api_key: str | None, http: Http = request_json) -> None:
        self.settings = settings
        self.base = settings.api_url.rstrip("/")
        # The synthetic header marks the probe's PredictionEvents, so drift, shadow and
        # evaluation leave them out and count them on their own.
        self.headers = {"user-agent": PROBE_USER_AGENT, SYNTHETIC_HEADER: PROBE_SENDER}
        if api_key:
            self.headers[API_KEY_HEADER] = api_key
        self._http = http

    def _call(
        self, method: str, path: str, payload: Any = None
    ) -> tuple[HttpAnswer | None, float, str | None]:
        """(answer, milliseconds, transport problem)."""
        started = time.perf_counter()
        try:
            response = self._http(
                method, self.base + path, payload, timeout=self.settings.timeout_s, headers=self.headers
            )
        except TransportError as error:
            return None, (time.perf_counter() - started) * 1000, str(error)
        elapsed = (time.perf_counter() - started) * 1000
        try:
            body = json.loads(response.body) if response.body else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = HttpAnswer(
                response.status,
                response.headers,
                response.text(),
                [f"HTTP {response.status} with a body that is not JSON: {response.text(200)!r}"],
            )
            return answer, elapsed, None
        return HttpAnswer(response.status, response.headers, body), elapsed, None

    def _latency_problems(self, latency_ms: float) -> list[str]:
        budget = self.settings.latency_budget_ms
        return [f"took {latency_ms:.0f} ms, the budget is {budget:.0f} ms"] if latency_ms > budget else []

    def health(self) -> CheckResult:
        answer, latency, failure = self._call("GET", "/health")
        if answer is None:
            return CheckResult(
                check="health", case="health", ok=False, latency_ms=latency, problems=[str(failure)]
            )
        # The hooks' health check reads a Lambda invocation; the probe has an HTTP answer.
        problems = answer.problems or check_health(Invocation(200, _proxy_payload(answer)))
        problems = problems + self._latency_problems(latency)
        return CheckResult(
            check="health",
            case="health",
            ok=not problems,
            status=answer.status,
            latency_ms=round(latency, 2),
            problems=problems,
        )

    def predict(self, api: ApiVersion, case: GoldenCase, golden: GoldenSet) -> CheckResult:
        answer, latency, failure = self._call("POST", f"/{api}/predict", case.request)
        result = CheckResult(check=api, case=case.name, ok=False, latency_ms=round(latency, 2))
        if answer is None:
            return result.model_copy(update={"problems": [str(failure)]})
        result.status = answer.status
        if answer.problems:
            return result.model_copy(update={"problems": answer.problems})
        if answer.status != 200:
            return result.model_copy(update={"problems": [f"HTTP {answer.status}: {str(answer.body)[:300]}"]})
        served = _served_model_version(answer)
        result.served_model_version = served
        # A canary (or a rollback) serves another model than the golden set's: its answers
        # are judged on the contract alone rather than paging someone for a planned change.
        compare = served is None or served == golden.model_version
        # The hooks' contract check (the service's response model, v1's fields and headers), then
        # JSON types strictly: a consumer parsing "0.1" as a number is already broken.
        problems = check_contract(api, answer, served or golden.model_version) or strict_types(
            api, answer.body
        )
        if compare:
            tolerance = max(self.settings.probability_tolerance, golden.tolerance)
            problems += check_golden(api, answer, case, tolerance)
        problems += self._latency_problems(latency)
        return result.model_copy(
            update={"ok": not problems, "problems": problems, "golden_compared": compare}
        )


def _proxy_payload(answer: HttpAnswer) -> dict[str, Any]:
    return {
        "statusCode": answer.status,
        "headers": answer.headers,
        "body": answer.body if isinstance(answer.body, str) else json.dumps(answer.body),
    }


def _served_model_version(answer: HttpAnswer) -> str | None:
    body = answer.body if isinstance(answer.body, dict) else {}
    version = body.get("model_version") or answer.headers.get(MODEL_VERSION_HEADER)
    return str(version) if version else None


def run_index(moment: datetime, interval_seconds: float) -> int:
    """Which run this is (consecutive runs, one every ``interval_seconds``, get consecutive numbers)."""
    return int(moment.timestamp() // interval_seconds)


def run_probe(
    settings: ProbeSettings,
    goldens: dict[ApiVersion, GoldenSet],
    *,
    api_key: str | None,
    http: Http = request_json,
    now: datetime | None = None,
) -> ProbeReport:
    """Probe the API once: /health, then this run's golden cases for every API version."""
    moment = now or datetime.now(UTC)
    prober = Prober(settings, api_key=api_key, http=http)
    results = [prober.health()]
    index = run_index(moment, settings.interval_seconds)
    for api in settings.apis:
        golden = goldens[api]
        for case in rotate(golden.cases, settings.cases_per_run, index):
            results.append(prober.predict(api, case, golden))
    return ProbeReport(started_at=moment, api_url=settings.api_url, results=results)

"""The service as framework-free routes: what the Lambda handler and the local server both serve.

``build_service`` loads the models once and returns every route of the enabled API versions
(plus ``/health``). ``answer`` runs one route and maps the domain exceptions to HTTP answers;
the front ends only translate their request and response types (``service.lambda_api`` for
API Gateway events, ``service.app`` for FastAPI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from propensity.constants import ApiVersion
from propensity.lambda_log import logger
from propensity.service.core.consumers import ConsumerDirectory
from propensity.service.core.errors import ServiceError, error_answer
from propensity.service.core.events import EventSink
from propensity.service.core.http import Answer, Incoming, Route, json_answer, utc_now
from propensity.service.core.openapi import response_doc
from propensity.service.core.pipeline import Pipeline
from propensity.service.core.rejections import RejectionSink
from propensity.service.core.runtime import ModelRuntime
from propensity.service.core.telemetry import Telemetry
from propensity.service.settings import ServiceSettings
from propensity.service.v1 import deprecation

# Each prediction function serves one API version: build_service imports the routes (and the
# request models behind them) of the enabled versions only, so the v2 function's cold start
# never builds v1's models, and the reverse.


class HealthResponse(BaseModel):
    """``ok`` when every served model is loaded, else ``unavailable`` with the reason."""

    # Built on the first /health call, not at import: the first prediction never needs it.
    model_config = ConfigDict(protected_namespaces=(), defer_build=True)

    status: Literal["ok", "unavailable"]
    reason: Annotated[str | None, Field(description="Why the service is unavailable")] = None
    api_versions: list[ApiVersion]
    models: Annotated[
        dict[str, str | None], Field(description="Model version per API version (null: not loaded)")
    ]
    reload_errors: Annotated[
        dict[str, str],
        Field(
            description="Newer champions that failed to load (local server): the model shown keeps serving"
        ),
    ] = {}


@dataclass(frozen=True)
class Service:
    """The loaded runtime and every route this deployment serves."""

    settings: ServiceSettings
    runtime: ModelRuntime
    routes: list[Route]
    v1_headers: dict[str, str] | None  # the deprecation headers, when v1 is served


def build_service(
    settings: ServiceSettings,
    runtime: ModelRuntime | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Service:
    """The routes for ``settings`` (loads the bundles unless a ``runtime`` is given).

    ``clock`` stamps every request; only the local server passes another one (a replay clock).
    """
    runtime = runtime if runtime is not None else ModelRuntime.load(settings)
    pipeline = Pipeline(
        runtime,
        Telemetry(settings.metrics_flush),
        EventSink(settings.events_to_stdout, settings.archive_dir),
        RejectionSink(settings.events_to_stdout, settings.archive_dir),
        ConsumerDirectory(settings.consumers, settings.consumer_source),
        clock,
    )

    def health(_request: Incoming) -> Answer:
        state = runtime.state  # one snapshot: a hot reload may swap models meanwhile
        ready = not state.errors
        body = HealthResponse(
            status="ok" if ready else "unavailable",
            reason="; ".join(state.errors.values()) or None,
            api_versions=list(settings.api_versions),
            models={
                api: m.version if (m := state.models.get(api)) else None for api in settings.api_versions
            },
            reload_errors=dict(state.reload_errors),
        )
        return json_answer(body.model_dump(mode="json"), 200 if ready else 503)

    routes = [
        Route("GET", "/health", None, 0, health, {
            "summary": "Is the model loaded and answering?",
            "tags": ["health"],
            "responses": {
                200: response_doc(HealthResponse, "Every served model is loaded"),
                503: response_doc(HealthResponse, "A model is not loaded; `reason` says why"),
            },
        }),
    ]  # fmt: skip
    v1_headers = None
    if "v2" in settings.api_versions:
        experiments = None
        if settings.experiment_registry:  # issue 17: the A/B hook (imported only when configured)
            from propensity.experiments.serving import ExperimentServing

            try:
                experiments = ExperimentServing.from_location(settings.experiment_registry)
            except Exception as error:  # an experiment must never fail the init: champion only
                logger.error(
                    "experiment registry could not be opened; serving the champion only",
                    extra={"reason": f"{type(error).__name__}: {error}"},
                )
        from propensity.service.v2.routes import routes as v2_routes

        routes += v2_routes(pipeline, experiments)
    if "v1" in settings.api_versions:
        from propensity.service.v1.routes import routes as v1_routes

        assert settings.v1_deprecation_date is not None  # the settings validate both dates
        assert settings.v1_sunset_date is not None
        deprecated_on, sunset_on = settings.v1_deprecation_date, settings.v1_sunset_date
        routes += v1_routes(pipeline, deprecation.openapi_headers(deprecated_on, sunset_on))
        v1_headers = deprecation.deprecation_headers(deprecated_on, sunset_on)
    return Service(settings, runtime, routes, v1_headers)


def answer(route: Route, request: Incoming) -> Answer:
    """Run ``route``; a domain exception becomes its HTTP answer (anything else propagates)."""
    try:
        return route.handle(request)
    except ServiceError as error:
        return error_answer(error)

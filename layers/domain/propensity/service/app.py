"""``create_app``: the FastAPI application serving the API versions a deployment enables.

The Lambda handler wraps it with Mangum (one API version per function); the local server
runs it under uvicorn with both. Models are loaded here, once, when the app is created.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.responses import Response

from propensity import __version__
from propensity.constants import ApiVersion
from propensity.service.core.errors import install_error_handlers, json_response
from propensity.service.core.events import EventSink
from propensity.service.core.openapi import ERROR_MODELS, SchemaPatch, install_openapi, response_doc
from propensity.service.core.pipeline import Pipeline
from propensity.service.core.runtime import ModelRuntime
from propensity.service.core.telemetry import Telemetry
from propensity.service.settings import ServiceSettings
from propensity.service.v1 import deprecation
from propensity.service.v1.models import V1PredictRequest, V1PredictResponse
from propensity.service.v1.routes import build_router as v1_router
from propensity.service.v2.models import (
    V2BatchRequest,
    V2BatchResponse,
    V2PredictRequest,
    V2PredictResponse,
    V2ValidateResponse,
    document_batch_items,
)
from propensity.service.v2.routes import build_router as v2_router

DESCRIPTION = """\
Propensity of a bank customer to subscribe a term deposit (UCI Bank Marketing).

* **v1** (deprecated): the flat contract consumers use today; every response carries
  `Deprecation`, `Sunset`, `Link` and `X-API-Deprecation` headers.
* **v2**: grouped fields, booleans, `null` for "never contacted", unknown categories
  accepted with a warning, a prediction id, batches, a validator and a v1-to-v2 translator.

Errors are JSON with a `detail`; 422 names each offending field. See MIGRATION.md.
"""


class HealthResponse(BaseModel):
    """``ok`` when every served model is loaded, else ``unavailable`` with the reason."""

    model_config = {"protected_namespaces": ()}

    status: Literal["ok", "unavailable"]
    reason: Annotated[str | None, Field(description="Why the service is unavailable")] = None
    api_versions: list[ApiVersion]
    models: Annotated[
        dict[str, str | None], Field(description="Model version per API version (null: not loaded)")
    ]


def create_app(settings: ServiceSettings, runtime: ModelRuntime | None = None) -> FastAPI:
    """The application for ``settings`` (loads the bundles unless a ``runtime`` is given)."""
    runtime = runtime if runtime is not None else ModelRuntime.load(settings)
    pipeline = Pipeline(
        runtime, Telemetry(settings.metrics_flush), EventSink(settings.events_to_stdout, settings.archive_dir)
    )
    app = FastAPI(
        title="Propensity API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime

    @app.get(
        "/health",
        tags=["health"],
        summary="Is the model loaded and answering?",
        response_model=None,
        responses={
            200: response_doc(HealthResponse, "Every served model is loaded"),
            503: response_doc(HealthResponse, "A model is not loaded; `reason` says why"),
        },
    )
    async def health() -> Response:
        body = HealthResponse(
            status="ok" if runtime.ready else "unavailable",
            reason="; ".join(runtime.errors.values()) or None,
            api_versions=list(settings.api_versions),
            models={api: runtime.model_version(api) for api in settings.api_versions},
        )
        return json_response(body.model_dump(mode="json"), 200 if runtime.ready else 503)

    request_types: list[Any] = []
    response_types: list[Any] = [HealthResponse, *ERROR_MODELS]
    patches: list[SchemaPatch] = []
    if "v2" in settings.api_versions:
        from propensity.experiments.serving import ExperimentServing  # issue 17: A/B experiment hook

        app.include_router(v2_router(pipeline, ExperimentServing.from_location(settings.experiment_registry)))
        request_types += [V2PredictRequest, V2BatchRequest, V1PredictRequest]
        response_types += [V2PredictResponse, V2BatchResponse, V2ValidateResponse]
        patches.append(document_batch_items)
    install_error_handlers(app)  # the catch-all sits inside the deprecation headers
    if "v1" in settings.api_versions:
        assert settings.v1_deprecation_date is not None  # the settings validate both dates
        assert settings.v1_sunset_date is not None
        deprecated_on, sunset_on = settings.v1_deprecation_date, settings.v1_sunset_date
        app.include_router(v1_router(pipeline, deprecation.openapi_headers(deprecated_on, sunset_on)))
        app.add_middleware(
            deprecation.DeprecationHeaders, headers=deprecation.deprecation_headers(deprecated_on, sunset_on)
        )
        request_types.append(V1PredictRequest)
        response_types.append(V1PredictResponse)
    install_openapi(app, request_types, response_types, patches)
    return app

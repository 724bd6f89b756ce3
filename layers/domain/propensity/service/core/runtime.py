"""The model runtime: the loaded model of each API version, or the reason it is not loaded.

A bundle that fails to load never crashes the process. ``load_serving_model`` is the one
place a load can fail, and it catches everything (a corrupt ``model.npz`` whose hash was
updated to match raises ``BadZipFile``, a truncated golden file ``JSONDecodeError``, a wrong
array layout ``KeyError``...): the runtime keeps the reason, ``/health`` answers 503 with it
and that version's prediction routes answer 503, while the other version keeps serving. So a
failed Lambda init is impossible by construction: the monitors and the deployment hooks see
a 503 with a reason instead of a crash loop.

The local server swaps models while serving (hot reload, ``service.server``): the state is
one immutable snapshot replaced in a single assignment, and routes take their model once at
request start, so an in-flight request finishes on the model it started with.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from propensity.bundle.io import Bundle, BundleError, load_bundle
from propensity.constants import ApiVersion
from propensity.lambda_log import logger
from propensity.model.compiled import CompiledEnsemble
from propensity.model.scoring import ScoringModel
from propensity.service.core.errors import ModelUnavailableError
from propensity.service.settings import ServiceSettings

# Exception texts can be long (pydantic lists every error): the reason stays readable in /health.
MAX_REASON_CHARS: Final[int] = 400


@dataclass(frozen=True)
class ServingModel:
    """What a prediction route needs from a loaded bundle."""

    api_version: ApiVersion
    version: str
    threshold: float
    model: ScoringModel
    bundle: Bundle


def serving_model(bundle: Bundle) -> ServingModel:
    """Wrap a verified bundle for serving (the trees get their fast serving layout)."""
    model = dataclasses.replace(bundle.model, ensemble=CompiledEnsemble.compile(bundle.model.ensemble))
    return ServingModel(
        api_version=bundle.serving.api_version,
        version=bundle.version,
        threshold=bundle.serving.threshold,
        model=model,
        bundle=bundle,
    )


def describe(error: BaseException) -> str:
    """A one-line reason: our own errors as they are, anything else prefixed with its type."""
    text = str(error) if isinstance(error, BundleError) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def load_serving_model(
    api: ApiVersion,
    load: Callable[[], Bundle],
    where: str,
    verify: Callable[[ServingModel], None] | None = None,
) -> ServingModel | str:
    """The loaded model, or the reason it could not be loaded: the one catch at the boundary.

    ``load`` reads the bundle (a folder, the registry); ``verify`` may check the loaded model
    further (the local server replays the golden cases) and raise to refuse it.
    """
    started = time.perf_counter()
    try:
        served = serving_model(load())
        if served.api_version != api:
            raise BundleError(f"bundle {served.version} was built for schema {served.api_version}, not {api}")
        if verify is not None:
            verify(served)
    except Exception as error:
        reason = f"the {api} bundle {where} could not be loaded: {describe(error)}"
        logger.error("model load failed", extra={"api_version": api, "reason": reason})
        return reason
    logger.info(
        "model loaded",
        extra={
            "api_version": api,
            "model_version": served.version,
            "load_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return served


def unconfigured_reason(api: ApiVersion) -> str:
    """Why a deployed function has no bundle of ``api``, and what to run locally instead."""
    return (
        f"no {api} bundle is configured: in Lambda, MODEL_DIR_{api.upper()} is unset, a deployment "
        f"error (redeploy the stage); locally, run `propensity serve`, which serves the registry's "
        f"{api} champion"
    )


@dataclass(frozen=True)
class RuntimeState:
    """One consistent snapshot: models, why the missing ones are missing, failed reloads."""

    models: Mapping[ApiVersion, ServingModel] = field(default_factory=dict)
    errors: Mapping[ApiVersion, str] = field(default_factory=dict)
    # A newer bundle that failed to load while an older one keeps serving (local hot reload).
    reload_errors: Mapping[ApiVersion, str] = field(default_factory=dict)


class ModelRuntime:
    """Loaded models per API version, the load error of each one that failed, failed reloads."""

    def __init__(self, models: dict[ApiVersion, ServingModel], errors: dict[ApiVersion, str]) -> None:
        self._state = RuntimeState(dict(models), dict(errors))
        self._write = threading.Lock()  # writers only: readers take the snapshot reference

    @classmethod
    def load(cls, settings: ServiceSettings) -> ModelRuntime:
        """Load the bundle of every API version the settings enable; never raises."""
        models: dict[ApiVersion, ServingModel] = {}
        errors: dict[ApiVersion, str] = {}
        for api in settings.api_versions:
            folder = settings.model_dir(api)
            if folder is None:
                errors[api] = unconfigured_reason(api)
                continue
            # serving=True: a registered (packaged) bundle's full manifest and golden cases are
            # parsed on first use, not on the cold start (bundle.io); the chain is still checked.
            load = functools.partial(load_bundle, folder, api, serving=True)
            loaded = load_serving_model(api, load, f"at {folder}")
            if isinstance(loaded, str):
                errors[api] = loaded
            else:
                models[api] = loaded
        return cls(models, errors)

    @property
    def state(self) -> RuntimeState:
        return self._state

    @property
    def models(self) -> Mapping[ApiVersion, ServingModel]:
        return self._state.models

    @property
    def errors(self) -> Mapping[ApiVersion, str]:
        return self._state.errors

    @property
    def reload_errors(self) -> Mapping[ApiVersion, str]:
        return self._state.reload_errors

    def require(self, api: ApiVersion) -> ServingModel:
        """The loaded model of ``api``, or ``ModelUnavailableError`` (HTTP 503) with the reason."""
        state = self._state
        model = state.models.get(api)
        if model is None:
            raise ModelUnavailableError(state.errors.get(api, f"{api} is not served by this deployment"))
        return model

    def model_version(self, api: ApiVersion) -> str | None:
        model = self._state.models.get(api)
        return model.version if model else None

    @property
    def ready(self) -> bool:
        return not self._state.errors

    # Hot reload (local server) -------------------------------------------------------------

    def install(self, api: ApiVersion, model: ServingModel) -> None:
        """Serve ``model`` for ``api`` from the next request on (in-flight ones keep theirs)."""
        with self._write:
            state = self._state
            self._state = RuntimeState(
                {**state.models, api: model},
                {a: r for a, r in state.errors.items() if a != api},
                {a: r for a, r in state.reload_errors.items() if a != api},
            )

    def unavailable(self, api: ApiVersion, reason: str) -> None:
        """Record why ``api`` cannot be served; a model already serving keeps serving."""
        with self._write:
            state = self._state
            if api in state.models:
                self._state = dataclasses.replace(state, reload_errors={**state.reload_errors, api: reason})
            else:
                self._state = dataclasses.replace(state, errors={**state.errors, api: reason})

    def clear_reload_error(self, api: ApiVersion) -> None:
        with self._write:
            state = self._state
            if api in state.reload_errors:
                reload_errors = {a: r for a, r in state.reload_errors.items() if a != api}
                self._state = dataclasses.replace(state, reload_errors=reload_errors)

"""The model runtime: bundles loaded once at start-up, or the reason they could not be.

A bundle that fails to load does not crash the process: the runtime keeps the error so that
``/health`` answers 503 with the reason and prediction routes answer 503, which is what the
monitors and the deployment hooks look for.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from propensity.bundle.io import Bundle, BundleError, load_bundle
from propensity.constants import ApiVersion
from propensity.model.compiled import CompiledEnsemble
from propensity.model.scoring import ScoringModel
from propensity.observability import logger
from propensity.service.core.errors import ModelUnavailableError
from propensity.service.settings import ServiceSettings


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
        api_version=bundle.manifest.api_version,
        version=bundle.version,
        threshold=bundle.manifest.threshold,
        model=model,
        bundle=bundle,
    )


class ModelRuntime:
    """Loaded models per API version, and the load error of each one that failed."""

    def __init__(self, models: dict[ApiVersion, ServingModel], errors: dict[ApiVersion, str]) -> None:
        self.models = models
        self.errors = errors

    @classmethod
    def load(cls, settings: ServiceSettings) -> ModelRuntime:
        """Load the bundle of every API version the settings enable; never raises."""
        models: dict[ApiVersion, ServingModel] = {}
        errors: dict[ApiVersion, str] = {}
        for api in settings.api_versions:
            folder = settings.model_dir(api)
            if folder is None:
                errors[api] = f"no bundle configured for {api} (set MODEL_DIR_{api.upper()})"
                continue
            started = time.perf_counter()
            try:
                models[api] = serving_model(load_bundle(folder, api))
            except (BundleError, OSError, ValueError) as error:
                errors[api] = f"the {api} bundle at {folder} could not be loaded: {error}"
                logger.error("model load failed", extra={"api_version": api, "reason": errors[api]})
                continue
            logger.info(
                "model loaded",
                extra={
                    "api_version": api,
                    "model_version": models[api].version,
                    "load_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return cls(models, errors)

    def require(self, api: ApiVersion) -> ServingModel:
        """The loaded model of ``api``, or ``ModelUnavailableError`` (HTTP 503) with the reason."""
        model = self.models.get(api)
        if model is None:
            raise ModelUnavailableError(self.errors.get(api, f"{api} is not served by this deployment"))
        return model

    def model_version(self, api: ApiVersion) -> str | None:
        model = self.models.get(api)
        return model.version if model else None

    @property
    def ready(self) -> bool:
        return not self.errors

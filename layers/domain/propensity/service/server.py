"""The local server: the registry's champions of v1 and v2 under uvicorn, on loopback.

PredictionEvents go to a local archive laid out like the S3 one (``predictions/YYYY/MM/DD/HH/``),
so the drift, shadow and evaluation jobs can run against it on the same machine.
"""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Final

from propensity.constants import API_VERSIONS
from propensity.observability import logger
from propensity.registry.factory import open_registry
from propensity.service.settings import DEFAULT_V1_DEPRECATION_DATE, DEFAULT_V1_SUNSET_DATE, ServiceSettings

LOCAL_ROOT: Final[Path] = Path(".local")
MODEL_CACHE: Final[Path] = LOCAL_ROOT / "cache" / "serving"
ARCHIVE_DIR: Final[Path] = LOCAL_ROOT / "archive"


def local_settings(
    registry_location: str | None, environ: Mapping[str, str] | None = None
) -> ServiceSettings:
    """Settings for serving both versions from the registry's champions.

    The bundles are fetched (once per version) into ``.local/cache/serving``. ``ARCHIVE_DIR``,
    ``V1_DEPRECATION_DATE`` and ``V1_SUNSET_DATE`` are read from the environment when set.
    An API version without a champion is still served: ``/health`` and its routes answer 503
    saying so.
    """
    env = os.environ if environ is None else environ
    registry = open_registry(registry_location)
    model_dirs: dict[str, Path | None] = {}
    for api in API_VERSIONS:
        version = registry.alias(api, "champion")
        model_dirs[api] = None
        if version is None:
            logger.warning(f"no {api} champion in {registry.store.location}; {api} will answer 503")
            continue
        target = MODEL_CACHE / api / version
        if not target.exists():
            # Fetch beside the target and rename, so an interrupted fetch never looks complete.
            staging = target.with_name(f".{version}.{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            registry.fetch(api, version, staging)
            staging.rename(target)
        model_dirs[api] = target
    return ServiceSettings(
        api_versions=API_VERSIONS,
        model_dir_v1=model_dirs["v1"],
        model_dir_v2=model_dirs["v2"],
        v1_deprecation_date=date.fromisoformat(env["V1_DEPRECATION_DATE"])
        if env.get("V1_DEPRECATION_DATE")
        else DEFAULT_V1_DEPRECATION_DATE,
        v1_sunset_date=date.fromisoformat(env["V1_SUNSET_DATE"])
        if env.get("V1_SUNSET_DATE")
        else DEFAULT_V1_SUNSET_DATE,
        archive_dir=Path(env.get("ARCHIVE_DIR") or ARCHIVE_DIR),
        # No CloudWatch locally: no EMF on the console, events in the archive rather than stdout.
        metrics_flush="off",
        events_to_stdout=False,
        # The local server serves the registry's running v2 experiment and follows its stop.
        experiment_registry=registry.store.location,
    )


def serve(registry_location: str | None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve v1 and v2 on ``host:port`` until interrupted (docs at ``/docs``)."""
    import uvicorn

    from propensity.service.app import create_app

    settings = local_settings(registry_location)
    app = create_app(settings)
    gc.collect()  # see functions/predict/predict_handler.py: keep init objects out of full collections
    gc.freeze()
    print(
        f"serving v1 and v2 on http://{host}:{port} (docs: http://{host}:{port}/docs); "
        f"PredictionEvents go to {settings.archive_dir}/predictions/",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)

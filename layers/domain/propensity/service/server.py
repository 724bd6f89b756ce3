"""The local server: the registry's champions of v1 and v2 under uvicorn, on loopback.

PredictionEvents go to a local archive laid out like the S3 one (``predictions/YYYY/MM/DD/HH/``),
so the drift, shadow and evaluation jobs can run against it on the same machine.

Hot reload: a background thread reads each API version's ``champion`` alias every
``RELOAD_INTERVAL_S``. When it moves, the new bundle is fetched, verified (hashes, then its
golden cases scored in-process) and loaded off the request path, then swapped in with one
assignment: requests already running finish on the old model, the next ones get the new one
(``/health`` and ``X-Model-Version`` show it). A bundle that fails leaves the old one serving
and ``/health`` says why in ``reload_errors``. Deployed functions never reload: a Lambda
version is immutable, which CodeDeploy's canary and rollback rely on (docs/service.md).
"""

from __future__ import annotations

import gc
import os
import shutil
import threading
import time
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Final

from propensity.constants import API_VERSIONS, ApiVersion
from propensity.observability import logger
from propensity.registry.factory import open_registry
from propensity.registry.registry import Registry
from propensity.service.core.pipeline import Pipeline
from propensity.service.core.runtime import ModelRuntime, ServingModel, describe, load_serving_model
from propensity.service.settings import (
    DEFAULT_V1_DEPRECATION_DATE,
    DEFAULT_V1_SUNSET_DATE,
    ServiceSettings,
    local_consumers,
)
from propensity.service.v1 import adapter as v1_adapter
from propensity.service.v2 import adapter as v2_adapter

LOCAL_ROOT: Final[Path] = Path(".local")
MODEL_CACHE: Final[Path] = LOCAL_ROOT / "cache" / "serving"
ARCHIVE_DIR: Final[Path] = LOCAL_ROOT / "archive"
# Reading an alias is a directory listing of a few small files: cheap enough every 2 s.
RELOAD_INTERVAL_S: Final[float] = 2.0
# A champion that failed to load is retried this often (a transient registry error heals).
RETRY_FAILED_S: Final[float] = 30.0


def local_settings(
    environ: Mapping[str, str] | None = None, experiment_registry: str | None = None
) -> ServiceSettings:
    """Settings for serving both versions locally (the models come from ``ChampionWatcher``).

    ``ARCHIVE_DIR``, ``V1_DEPRECATION_DATE``, ``V1_SUNSET_DATE`` and ``PROPENSITY_CONSUMERS``
    are read from the environment when set. ``experiment_registry``: the registry whose
    running v2 experiment is served (``serve`` passes the one it follows).
    """
    env = os.environ if environ is None else environ
    return ServiceSettings(
        api_versions=API_VERSIONS,
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
        consumers=local_consumers(env),
        consumer_source="api_key",
        # The local server serves the registry's running v2 experiment and follows its stop.
        experiment_registry=experiment_registry,
    )


def check_golden(served: ServingModel) -> None:
    """Score the bundle's golden cases in-process; raise if an answer differs from the recorded one."""
    golden = served.bundle.golden
    if not golden.cases:
        raise ValueError(f"bundle {served.version} has no golden cases")
    if served.api_version == "v1":
        names, records = v1_adapter.FEATURE_NAMES, [v1_adapter.to_record(c.request) for c in golden.cases]
    else:
        names, records = (
            v2_adapter.FEATURE_NAMES,
            [v2_adapter.to_record(c.request).features for c in golden.cases],
        )
    scored = Pipeline.score(served, names, records)
    for case, probability, decision in zip(
        golden.cases, scored.probabilities(), scored.decisions(), strict=True
    ):
        if abs(probability - case.probability) > golden.tolerance or decision != case.decision:
            raise ValueError(
                f"golden case {case.name}: probability {probability:.6f} ({decision}), "
                f"the bundle records {case.probability:.6f} ({case.decision})"
            )


class ChampionWatcher:
    """Keeps ``runtime`` serving each API version's current champion (see the module docstring)."""

    def __init__(
        self,
        registry: Registry,
        runtime: ModelRuntime,
        api_versions: tuple[ApiVersion, ...] = API_VERSIONS,
        cache_dir: Path = MODEL_CACHE,
        interval_s: float = RELOAD_INTERVAL_S,
    ) -> None:
        self.registry = registry
        self.runtime = runtime
        self.api_versions = api_versions
        self.cache_dir = cache_dir
        self.interval_s = interval_s
        self._failed: dict[ApiVersion, tuple[str, float]] = {}  # version that failed, when
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def location(self) -> str:
        return str(self.registry.store.location)

    def poll(self) -> None:
        """One round: load every champion that moved. Never raises (the thread must not die)."""
        for api in self.api_versions:
            try:
                self._poll_one(api)
            except Exception as error:
                self.runtime.unavailable(
                    api, f"the registry {self.location} could not be read: {describe(error)}"
                )

    def _poll_one(self, api: ApiVersion) -> None:
        version = self.registry.alias(api, "champion")
        if version is None:
            if self.runtime.model_version(api) is None:
                self.runtime.unavailable(
                    api,
                    f"no {api} champion in the registry {self.location}: run `propensity quickstart` "
                    f"(or `propensity train --api {api}` and `propensity alias champion <version> "
                    f"--api {api} --reason ...`); this server loads it within seconds",
                )
            return
        if version == self.runtime.model_version(api):
            if api in self._failed:  # the alias came back to the serving version
                del self._failed[api]
                self.runtime.clear_reload_error(api)
            return
        failed = self._failed.get(api)
        if failed is not None and failed[0] == version and time.monotonic() - failed[1] < RETRY_FAILED_S:
            return
        previous = self.runtime.model_version(api)
        loaded = load_serving_model(
            api,
            lambda: self.registry.load(api, version, self.cache_dir),
            f"{version} from the registry {self.location}",
            verify=check_golden,
        )
        if isinstance(loaded, str):
            self._failed[api] = (version, time.monotonic())
            suffix = f"; still serving {previous}" if previous else ""
            self.runtime.unavailable(api, loaded + suffix)
            # The cached copy may be half-fetched or corrupt: the retry fetches it again.
            shutil.rmtree(self.cache_dir / api / version, ignore_errors=True)
            print(f"{api}: champion {version} refused: {loaded}{suffix}", flush=True)
            return
        self._failed.pop(api, None)
        self.runtime.install(api, loaded)
        if previous is not None:
            logger.info("model reloaded", extra={"api_version": api, "from": previous, "to": version})
            print(f"{api}: now serving {version} (was {previous})", flush=True)

    def start(self) -> None:
        """Poll in a daemon thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="champion-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def serve(
    registry_location: str | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    reload_interval_s: float = RELOAD_INTERVAL_S,
) -> None:
    """Serve v1 and v2 on ``host:port`` until interrupted (docs at ``/docs``), following the champions."""
    import uvicorn

    from propensity.service.app import create_app

    registry = open_registry(registry_location)
    settings = local_settings(experiment_registry=str(registry.store.location))
    runtime = ModelRuntime({}, {api: f"{api} is loading" for api in settings.api_versions})
    watcher = ChampionWatcher(registry, runtime, settings.api_versions, interval_s=reload_interval_s)
    watcher.poll()  # the first load, before the port opens: /health is never "loading"
    app = create_app(settings, runtime)
    gc.collect()  # see functions/predict/predict_handler.py: keep init objects out of full collections
    gc.freeze()
    for api in settings.api_versions:
        version = runtime.model_version(api)
        print(
            f"{api}: serving {version}" if version else f"{api}: 503: {runtime.errors.get(api)}", flush=True
        )
    print(
        f"serving v1 and v2 on http://{host}:{port} (docs: http://{host}:{port}/docs); "
        f"PredictionEvents go to {settings.archive_dir}/predictions/; "
        f"following the champions of {watcher.location} every {reload_interval_s:g} s",
        flush=True,
    )
    watcher.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    finally:
        watcher.stop()

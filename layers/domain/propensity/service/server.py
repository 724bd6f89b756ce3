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

Replay clock: ``--clock 2h-ago`` (or an ISO time) starts the server's clock in the past, so a
replay lands in hours that have already ended and the hourly jobs, which refuse an hour that
has not ended, can judge it at once; ``--clock-speed 60`` spreads a replay over the hours
(a minute of replay per second). The clock never runs ahead of the real one: having caught
up, it follows real time. Deployed functions always stamp with the real clock.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
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
# A replay clock further back than this is a typo, not a replay (the jobs look back days).
MAX_CLOCK_LAG: Final[timedelta] = timedelta(days=31)
MAX_CLOCK_SPEED: Final[float] = 3600.0  # an hour of event time per second of replay
# "2h-ago" (argparse takes a bare "-2h" for an option; "--clock=-2h" is accepted too).
_RELATIVE = re.compile(r"-?(\d+(?:\.\d+)?)([mhd])(?:-ago)?")
_UNITS: Final[dict[str, str]] = {"m": "minutes", "h": "hours", "d": "days"}


def parse_clock_start(text: str, now: datetime) -> datetime:
    """``2h-ago`` / ``90m-ago`` / ``1d-ago`` (or ``-2h``) before ``now``, or an ISO time (naive
    means UTC), in the past.

    Raises ``ValueError`` with the reason for anything else, a future time or one more than
    ``MAX_CLOCK_LAG`` back.
    """
    value = text.strip()
    match = _RELATIVE.fullmatch(value)
    # A bare "2h" could mean ahead or behind: the sign or "-ago" is required.
    if match and (value.startswith("-") or value.endswith("-ago")):
        start = now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    else:
        try:
            start = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as error:
            raise ValueError(
                f"--clock {text!r}: expected a time in the past, "
                "e.g. 2h-ago, 90m-ago, 1d-ago or 2026-11-30T09:00"
            ) from error
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    if start > now:
        raise ValueError(f"--clock {text!r} is in the future: the server's clock may only run behind")
    if now - start > MAX_CLOCK_LAG:
        raise ValueError(f"--clock {text!r} is more than {MAX_CLOCK_LAG.days} days back")
    return start


class ReplayClock:
    """Event time from ``start``, running ``speed`` times as fast as real time, never past it.

    Monotonic elapsed time, so a wall-clock step (NTP) does not jump the stamps around.
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        real: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < speed <= MAX_CLOCK_SPEED:
            raise ValueError(f"--clock-speed must be above 0 and at most {MAX_CLOCK_SPEED:g}")
        self.start, self.speed = start, speed
        self._real, self._monotonic = real, monotonic
        self._origin = monotonic()
        self.caught_up = False

    def __call__(self) -> datetime:
        real = self._real()
        moment = self.start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)
        if moment < real:
            return moment
        if not self.caught_up:
            self.caught_up = True  # one line, not one per request
            logger.warning("replay clock caught up with the real clock: stamping real time from now on")
        return real


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
    clock: ReplayClock | None = None,
) -> None:
    """Serve v1 and v2 on ``host:port`` until interrupted (docs at ``/docs``), following the
    champions; ``clock``: stamp requests with a replay clock instead of the real one."""
    import uvicorn

    from propensity.alerting.local import LocalAlertSettings
    from propensity.archive.store import LocalArchiveStore
    from propensity.dashboard.route import dashboard_router
    from propensity.service.app import create_app
    from propensity.service.core.http import utc_now

    registry = open_registry(registry_location)
    settings = local_settings(experiment_registry=str(registry.store.location))
    runtime = ModelRuntime({}, {api: f"{api} is loading" for api in settings.api_versions})
    watcher = ChampionWatcher(registry, runtime, settings.api_versions, interval_s=reload_interval_s)
    watcher.poll()  # the first load, before the port opens: /health is never "loading"
    app = create_app(settings, runtime, clock or utc_now)
    archive = LocalArchiveStore(settings.archive_dir or ARCHIVE_DIR)
    app.include_router(dashboard_router(archive.root, LocalAlertSettings.from_env(archive=archive).directory))
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
        f"following the champions of {watcher.location} every {reload_interval_s:g} s; "
        f"the monitoring page at http://{host}:{port}/dashboard",
        flush=True,
    )
    if clock is not None:
        print(
            f"replay clock: requests are stamped from {clock.start:%Y-%m-%d %H:%M:%S} UTC "
            f"at {clock.speed:g}x real time (never past the real clock)",
            flush=True,
        )
    watcher.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    finally:
        watcher.stop()

"""The serving side of an experiment: both models loaded, each record answered by its arm.

``ExperimentServing`` follows the registry's running experiment of one API version (v2):

- at start-up it reads the running experiment (if any) and loads the challenger bundle
  (fetched and verified like any bundle) next to the runtime's champion;
- afterwards it polls at most every ``poll_seconds``: one existence check of the running
  experiment's end record and one of the next start record. A stop takes effect at the next
  request after the poll (every request goes back to the champion at once); a new start is
  loaded off the request path, in a thread, and served once loaded.

The local server and a Lambda execution environment run the same code; in Lambda the
experiment is read at init from the registry the function is configured with
(``EXPERIMENT_REGISTRY``) and the same poll applies for as long as the environment lives.

If the runtime's champion is not the experiment's champion (it was promoted meanwhile), the
experiment is not served: everyone gets the champion and a warning is logged, because the
arms would no longer be the ones that were pre-registered.

The v2 routes call ``choose`` (one record) or ``choose_many`` (a batch), ``tag`` the events
and add ``headers`` to the response: that is the whole hook.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from propensity.constants import EXPERIMENT_ARM_HEADER, ApiVersion, ExperimentArm
from propensity.events import PredictionEvent
from propensity.experiments import lifecycle, store
from propensity.experiments.assignment import FALLBACK_WARNING, assign
from propensity.experiments.models import ExperimentRecord
from propensity.observability import logger
from propensity.registry.factory import open_registry
from propensity.registry.registry import Registry
from propensity.service.core.runtime import ServingModel, serving_model

DEFAULT_POLL_SECONDS: Final[float] = 2.0
CACHE_DIR: Final[Path] = Path(tempfile.gettempdir()) / "propensity-experiments"


@dataclass(frozen=True)
class LiveExperiment:
    """A running experiment with its challenger ready to score."""

    record: ExperimentRecord
    challenger: ServingModel


@dataclass(frozen=True)
class Choice:
    """Which model answers one record, and how the answer and its event say so."""

    served: ServingModel
    experiment_id: str | None = None
    arm: ExperimentArm | None = None
    warning: str | None = None

    @property
    def warnings(self) -> list[str]:
        return [self.warning] if self.warning else []


def headers(choices: Sequence[Choice]) -> dict[str, str]:
    """The arm header: the arm, or both arms (comma-separated) for a batch that spans them."""
    if not choices or choices[0].arm is None:  # no experiment served
        return {}
    arms = sorted({c.arm for c in choices if c.arm is not None})
    return {EXPERIMENT_ARM_HEADER: ",".join(arms)} if arms else {}


def tag(events: list[PredictionEvent], choices: Sequence[Choice]) -> list[PredictionEvent]:
    """Set ``experiment`` and ``arm`` on events built for ``choices`` (same order)."""
    if not choices or choices[0].arm is None:  # no experiment served: nothing to set
        return events
    for event, choice in zip(events, choices, strict=True):
        if choice.arm is not None:
            event.experiment = choice.experiment_id
            event.arm = choice.arm
    return events


class ExperimentServing:
    """The running experiment of ``api`` as the serving path sees it."""

    def __init__(
        self,
        registry: Registry,
        api: ApiVersion,
        *,
        cache_dir: Path = CACHE_DIR,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        self.registry = registry
        self.api = api
        self.cache_dir = cache_dir
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.background = background
        self.live: LiveExperiment | None = None
        self._next_sequence = 0
        self._checked_at = clock()
        self._loading = threading.Lock()
        self._sync_from_registry()

    @classmethod
    def from_location(cls, location: str | None, api: ApiVersion = "v2") -> ExperimentServing | None:
        """``None`` when experiments are not configured (no registry location)."""
        if not location:
            return None
        return cls(open_registry(location), api)

    # Following the registry ---------------------------------------------------------------

    def _sync_from_registry(self) -> None:
        """Read the running experiment now and load its challenger (start-up, or a new start)."""
        try:
            numbers = store.sequences(self.registry, self.api)
            running = lifecycle.active(self.registry, self.api)
        except Exception as error:  # an experiment must never take the service down
            logger.error(
                "experiments could not be read; serving the champion only", extra={"reason": str(error)}
            )
            self.live = None
            return
        self._next_sequence = numbers[-1] + 1 if numbers else 0
        self.live = self._load(running.record) if running is not None else None

    def _load(self, record: ExperimentRecord) -> LiveExperiment | None:
        try:
            bundle = self.registry.load(self.api, record.challenger_version, self.cache_dir)
            live = LiveExperiment(record, serving_model(bundle))
        except Exception as error:  # a broken challenger must never take the champion down
            logger.error(
                "experiment challenger could not be loaded; serving the champion only",
                extra={"experiment": record.experiment_id, "reason": str(error)},
            )
            return None
        logger.info(
            "experiment serving",
            extra={"experiment": record.experiment_id, "challenger": record.challenger_version},
        )
        return live

    def _poll(self) -> None:
        now = self.clock()
        if now - self._checked_at < self.poll_seconds:
            return
        self._checked_at = now
        live = self.live
        next_start = store.experiment_prefix(self.api, self._next_sequence) + store.START_FILE
        try:
            stopped = live is not None and store.end_exists(self.registry, self.api, live.record.sequence)
            started = self.registry.store.exists(next_start)
        except Exception as error:  # an unreachable registry: keep serving what is loaded
            logger.error("experiment poll failed", extra={"reason": str(error)})
            return
        if stopped and live is not None:
            self.live = None  # stopped: everyone goes back to the champion from this request on
            logger.info(
                "experiment stopped; serving the champion only",
                extra={"experiment": live.record.experiment_id},
            )
        if started and self._loading.acquire(blocking=False):
            if self.background:
                threading.Thread(target=self._load_new, daemon=True).start()
            else:
                self._load_new()

    def _load_new(self) -> None:
        try:
            self._sync_from_registry()
        finally:
            self._loading.release()

    # Answering ----------------------------------------------------------------------------

    def current(self, champion: ServingModel) -> LiveExperiment | None:
        """The experiment to serve with ``champion``, or ``None``."""
        self._poll()
        live = self.live
        if live is None:
            return None
        if live.record.champion_version != champion.version:
            logger.warning(
                "the champion is not the experiment's champion; experiment not served",
                extra={"experiment": live.record.experiment_id, "champion": champion.version},
            )
            return None
        return live


def choose(
    experiments: ExperimentServing | None, champion: ServingModel, customer_ref: str | None, request_id: str
) -> Choice:
    """The model and arm that answer one record."""
    return choose_many(experiments, champion, [customer_ref], request_id)[0]


def choose_many(
    experiments: ExperimentServing | None,
    champion: ServingModel,
    customer_refs: Sequence[str | None],
    request_id: str,
) -> list[Choice]:
    """One choice per record of a request (records without a reference share the request's arm)."""
    live = experiments.current(champion) if experiments is not None else None
    if live is None:
        return [Choice(champion)] * len(customer_refs)  # one shared (frozen) choice: no per-record cost
    record = live.record
    choices = []
    for ref in customer_refs:
        assignment = assign(record.salt, record.challenger_share, ref, request_id)
        choices.append(
            Choice(
                served=live.challenger if assignment.arm == "challenger" else champion,
                experiment_id=record.experiment_id,
                arm=assignment.arm,
                warning=FALLBACK_WARNING if assignment.by_request_id else None,
            )
        )
    return choices


def by_model(choices: Sequence[Choice]) -> list[tuple[ServingModel, list[int]]]:
    """Record positions grouped by the model that answers them (one group without an experiment)."""
    if not choices:
        return []
    if choices[0].arm is None:  # no experiment served: every record has the champion's choice
        return [(choices[0].served, list(range(len(choices))))]
    groups: dict[str, tuple[ServingModel, list[int]]] = {}
    for k, choice in enumerate(choices):
        groups.setdefault(choice.served.version, (choice.served, []))[1].append(k)
    return list(groups.values())

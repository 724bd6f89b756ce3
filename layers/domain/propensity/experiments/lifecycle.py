"""Start, stop and find experiments (records in the registry, one running per API version)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from propensity.constants import ApiVersion
from propensity.experiments import store
from propensity.experiments.models import Experiment, ExperimentEnd, ExperimentRecord, TestDesign
from propensity.registry.registry import Registry, current_actor

# The API versions whose routes carry the experiment hook (propensity.experiments.serving).
SERVED_APIS: tuple[ApiVersion, ...] = ("v2",)


class ExperimentError(RuntimeError):
    """A refused experiment operation."""


def experiment_id(api: ApiVersion, sequence: int) -> str:
    return f"{api}-exp{sequence:04d}"


def load(registry: Registry, api: ApiVersion, sequence: int) -> Experiment | None:
    prefix = store.experiment_prefix(api, sequence)
    record = store.read_record(registry, prefix + store.START_FILE, ExperimentRecord)
    if record is None:
        return None
    return Experiment(record=record, end=store.read_record(registry, prefix + store.END_FILE, ExperimentEnd))


def experiments(registry: Registry, api: ApiVersion) -> list[Experiment]:
    """Every experiment of ``api``, oldest first."""
    found = [load(registry, api, n) for n in store.sequences(registry, api)]
    return [e for e in found if e is not None]


def active(registry: Registry, api: ApiVersion) -> Experiment | None:
    """The running experiment of ``api``, if any (the newest start without an end)."""
    numbers = store.sequences(registry, api)
    if not numbers:
        return None
    latest = load(registry, api, numbers[-1])
    return latest if latest is not None and latest.end is None else None


def find(registry: Registry, api: ApiVersion, wanted: str | None) -> Experiment:
    """The experiment named ``wanted`` (its id), else the running one, else the latest."""
    every = experiments(registry, api)
    if not every:
        raise ExperimentError(f"no {api} experiment in {registry.store.location}")
    if wanted is None:
        return next((e for e in reversed(every) if e.end is None), every[-1])
    for experiment in every:
        if experiment.experiment_id == wanted:
            return experiment
    raise ExperimentError(f"no {api} experiment {wanted}; known: {', '.join(e.experiment_id for e in every)}")


def start(
    registry: Registry,
    api: ApiVersion,
    *,
    challenger: str,
    challenger_share: float,
    planned_customers: int,
    design: TestDesign,
    reason: str,
    champion: str | None = None,
    name: str = "",
    salt: str | None = None,
    override_gate: str | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> ExperimentRecord:
    """Create the start record, subject to the promotion policy; refuse while another one runs."""
    if not reason.strip():
        raise ExperimentError("an experiment needs a reason (--reason)")
    if api not in SERVED_APIS:
        raise ExperimentError(
            f"experiments are served by {', '.join(SERVED_APIS)} only: v1's fixed contract has no "
            f"customer_ref to assign by, and its routes have no experiment hook"
        )
    champion = champion or registry.alias(api, "champion")
    if champion is None:
        raise ExperimentError(f"{api} has no champion to run an experiment against")
    if champion != registry.alias(api, "champion"):
        raise ExperimentError(f"{champion} is not the {api} champion ({registry.alias(api, 'champion')} is)")
    # Imported here: the policy pulls in the gate (and training code), the serving path must not.
    from propensity.experiments.policy import check_challenger

    override = check_challenger(registry, api, champion, challenger, override_gate)
    numbers = store.sequences(registry, api)
    if numbers:
        latest = load(registry, api, numbers[-1])
        if latest is not None and latest.end is None:
            raise ExperimentError(f"{latest.experiment_id} is still running; stop it first")
    sequence = numbers[-1] + 1 if numbers else 0
    record = ExperimentRecord(
        experiment_id=experiment_id(api, sequence),
        sequence=sequence,
        api_version=api,
        name=name,
        champion_version=champion,
        challenger_version=challenger,
        challenger_share=challenger_share,
        salt=salt or secrets.token_hex(16),
        started_at=now or datetime.now(UTC),
        started_by=actor or current_actor(),
        reason=reason,
        planned_customers=planned_customers,
        design=design,
        policy_override=override,
    )
    try:
        store.create_record(registry, store.experiment_prefix(api, sequence) + store.START_FILE, record)
    except store.RecordExistsError as error:
        raise ExperimentError(
            f"another experiment of {api} was started at the same moment ({error})"
        ) from error
    return record


def stop(
    registry: Registry,
    api: ApiVersion,
    *,
    reason: str,
    decision: str = "",
    wanted: str | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> ExperimentEnd:
    """End the running experiment (or ``wanted``): every request goes back to the champion."""
    if not reason.strip():
        raise ExperimentError("stopping an experiment needs a reason (--reason)")
    experiment = find(registry, api, wanted)
    if experiment.end is not None:
        raise ExperimentError(
            f"{experiment.experiment_id} already ended at {experiment.end.ended_at:%Y-%m-%d %H:%M}"
        )
    end = ExperimentEnd(
        experiment_id=experiment.experiment_id,
        ended_at=now or datetime.now(UTC),
        ended_by=actor or current_actor(),
        reason=reason,
        decision=decision,
    )
    key = store.experiment_prefix(api, experiment.record.sequence) + store.END_FILE
    try:
        store.create_record(registry, key, end)
    except store.RecordExistsError as error:
        raise ExperimentError(f"{experiment.experiment_id} was stopped by someone else meanwhile") from error
    return end

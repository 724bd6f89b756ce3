"""Experiment records: create-only, one running per API version (real processes), policy-checked."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from propensity.experiments import lifecycle, store
from propensity.experiments.policy import ExperimentPolicyError
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from tests.unit.experiments.conftest import register_copy
from tests.unit.experiments.synthetic import make_record


def _start(registry: Registry, challenger: str, **extra):
    record = make_record()
    return lifecycle.start(
        registry,
        "v2",
        challenger=challenger,
        challenger_share=0.5,
        planned_customers=record.planned_customers,
        design=record.design,
        reason="test",
        actor="pytest",
        **extra,
    )


def test_start_status_stop_leave_two_create_only_records(ab_registry):
    registry, champion, challenger = ab_registry
    record = _start(registry, challenger)
    assert record.champion_version == champion and record.policy_override is None
    assert lifecycle.active(registry, "v2").record == record
    prefix = store.experiment_prefix("v2", record.sequence)
    with pytest.raises(store.RecordExistsError):
        store.create_record(
            registry, prefix + store.START_FILE, record.model_copy(update={"challenger_share": 0.9})
        )
    assert lifecycle.load(registry, "v2", record.sequence).record.challenger_share == 0.5  # unchanged
    with pytest.raises(lifecycle.ExperimentError, match="still running"):
        _start(registry, challenger)
    end = lifecycle.stop(registry, "v2", reason="done", actor="pytest")
    assert lifecycle.active(registry, "v2") is None
    with pytest.raises(lifecycle.ExperimentError, match="already ended"):
        lifecycle.stop(registry, "v2", reason="again")
    with pytest.raises(store.RecordExistsError):
        store.create_record(registry, prefix + store.END_FILE, end)
    second = _start(registry, challenger)
    assert second.sequence == 1 and second.salt != record.salt  # a new experiment reshuffles
    assert [e.status for e in lifecycle.experiments(registry, "v2")] == ["ended", "running"]


def test_the_policy_refuses_an_ungated_challenger_unless_overridden_on_record(registry, tmp_path):
    ungated = register_copy(registry, tmp_path, "ungated")
    with pytest.raises(ExperimentPolicyError, match="never been through the gate"):
        _start(registry, ungated)
    with pytest.raises(ExperimentPolicyError, match="an experiment needs two models"):
        _start(registry, registry.alias("v2", "champion"))
    with pytest.raises(ExperimentPolicyError, match="cannot serve"):
        _start(registry, "v2-not-registered")
    record = _start(registry, ungated, override_gate="gate cannot compare models trained on other rows")
    assert "overridden: gate cannot compare" in record.policy_override


def test_a_tampered_challenger_bundle_is_refused(ab_registry):
    registry, _, challenger = ab_registry
    root = Path(registry.store.location) / "models" / "v2" / challenger
    artefact = next(p for p in root.iterdir() if p.name != "manifest.json" and p.is_file())
    data = bytearray(artefact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artefact.write_bytes(bytes(data))
    with pytest.raises(ExperimentPolicyError, match="cannot serve"):
        _start(registry, challenger)


def _race(location: str, challenger: str, barrier, results) -> None:
    registry = Registry(LocalBlobStore(Path(location)))
    barrier.wait()
    try:
        results.put(_start(registry, challenger).experiment_id)
    except lifecycle.ExperimentError as error:
        results.put(f"refused: {error}")


def test_concurrent_starts_in_real_processes_leave_exactly_one_experiment(ab_registry):
    registry, _, challenger = ab_registry
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(6), context.Queue()
    workers = [
        context.Process(target=_race, args=(registry.store.location, challenger, barrier, results))
        for _ in range(6)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    outcomes = [results.get(timeout=5) for _ in workers]
    started = [o for o in outcomes if not o.startswith("refused")]
    assert started == ["v2-exp0000"], outcomes
    assert len(lifecycle.experiments(registry, "v2")) == 1


def test_v1_cannot_run_an_experiment(ab_registry):
    registry, _, challenger = ab_registry
    record = make_record()
    with pytest.raises(lifecycle.ExperimentError, match="served by v2 only"):
        lifecycle.start(
            registry,
            "v1",
            challenger=challenger,
            challenger_share=0.5,
            planned_customers=100,
            design=record.design,
            reason="no",
        )

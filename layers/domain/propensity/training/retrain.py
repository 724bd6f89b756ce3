"""Retraining from production outcomes: build the set, train (or recalibrate), gate, register.

1. the base data (optionally only its months up to ``base_until``: the data the champion was
   trained on) followed by every labelled production prediction (``production_data``);
2. a full retrain with the stage's config (stratified holdout from the base rows only, so it is
   the champion's; the backtest runs over the combined months), or ``recalibrate_only``: the
   champion's trees with the Platt intercept refitted on the latest labelled month;
3. the gate against the champion: on time (the challenger's backtest months, the champion as
   shipped on months after its training data) and on the stratified holdout;
4. registration, the verdict recorded, and (if it passed) the ``challenger`` alias, which the
   shadow scorer follows.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from propensity.bundle.io import Bundle
from propensity.constants import ApiVersion
from propensity.data.loader import BankDataset
from propensity.gate.report import GateReport
from propensity.gate.run import run_gate
from propensity.policy.gate import GateThresholds
from propensity.registry.registry import Registry
from propensity.training.backtest import recalibration_backtest
from propensity.training.config import TrainingConfig, legacy_config
from propensity.training.production_data import concat, production_rows
from propensity.training.protocol import TrainedModel, best_f1_threshold, recent_rows, refit_intercept
from propensity.training.split import stratified_split
from propensity.training.train import (
    HYPERPARAMETERS,
    TrainingInputs,
    TrainingResult,
    flat_columns,
    train_bundle,
    write_trained_bundle,
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RetrainOutcome:
    version: str
    report: GateReport
    production_rows: int
    challenger_set: bool


def base_data(dataset: BankDataset, until: str | None) -> BankDataset:
    """The base rows up to month ``until`` (inclusive), months derived on the whole file first."""
    months = dataset.calendar_months()
    if until is None:
        return dataset
    rows = np.flatnonzero(months <= until)
    if rows.size == 0:
        raise ValueError(f"no base rows up to {until} (the data starts in {months[0]})")
    return dataset.take(rows)


def retraining_set(base: BankDataset, archive_root: Path, api: ApiVersion) -> tuple[BankDataset, int]:
    """Base rows followed by labelled production rows; and how many came from production."""
    production = production_rows(archive_root, api).dataset
    return concat(base, production), len(production)


def champion_config(champion: Bundle) -> TrainingConfig:
    recorded = champion.manifest.training.config
    if recorded is None:
        api = champion.manifest.api_version
        return legacy_config(api, HYPERPARAMETERS[api])
    return TrainingConfig.model_validate(recorded)


def recalibrate(
    champion: Bundle,
    combined: BankDataset,
    production: int,
    out_dir: Path,
    progress: Progress,
    backtest_months: int,
) -> TrainingResult:
    """The champion's trees, intercept (and threshold) refitted on the latest labelled months."""
    started = time.perf_counter()
    api = champion.manifest.api_version
    model = champion.model
    x = model.matrix(flat_columns(combined, api))
    months = combined.calendar_months()
    recent = recent_rows(months)
    raw = model.ensemble.raw_score(x[recent])
    y = combined.target[recent]
    calibration = refit_intercept(model.calibration, raw, y)
    p_recent = calibration.probability(raw)
    threshold = best_f1_threshold(y, p_recent)
    trained = TrainedModel(api, None, model.ensemble, calibration, threshold, (y, p_recent))
    latest = sorted({str(m) for m in months[recent]})
    progress(
        f"{api}: recalibrated {champion.version} on {recent.size} rows of {latest[0]}..{latest[-1]}: "
        f"intercept {model.calibration.intercept:+.3f} -> {calibration.intercept:+.3f}, "
        f"threshold {threshold:.2f}"
    )
    backtest = (
        recalibration_backtest(champion, combined, backtest_months, progress) if backtest_months else None
    )
    base_rows = len(combined) - production
    split = stratified_split(combined.target[:base_rows], combined.sha256)
    inputs = TrainingInputs(combined, split, recent, production, champion_config(champion), started)
    methods = (
        f"max F1 on the latest {recent.size} labelled rows ({latest[0]}..{latest[-1]})",
        f"trees and Platt slope of {champion.version}; intercept refitted on the latest {recent.size} "
        f"labelled rows ({latest[0]}..{latest[-1]})",
    )
    return write_trained_bundle(
        inputs,
        trained,
        out_dir,
        progress,
        backtest=backtest,
        methods=methods,
        recalibrated_from=champion.version,
    )


def make_challenger(registry: Registry, api: ApiVersion, version: str, reason: str) -> None:
    """The one place retraining moves an alias (through the promotion policy's function)."""
    from propensity.promotion.workflow import set_challenger

    set_challenger(registry, api, version, reason=reason, actor="propensity retrain")


def retrain(
    registry: Registry,
    api: ApiVersion,
    dataset: BankDataset,
    archive_root: Path,
    config: TrainingConfig,
    *,
    base_until: str | None = None,
    recalibrate_only: bool = False,
    backtest_months: int | None = None,
    thresholds: GateThresholds | None = None,
    jobs: int = 1,
    progress: Progress = print,
) -> RetrainOutcome:
    """Steps 1-4 of the module docstring; returns the gate report and whether the alias moved."""
    from propensity.gate.record import record_verdict
    from propensity.promotion.workflow import champion_of

    base = base_data(dataset, base_until)
    combined, production = retraining_set(base, archive_root, api)
    progress(f"{api}: {len(base)} base rows + {production} labelled production rows")
    months = config.backtest.months if backtest_months is None else backtest_months
    champion_version = champion_of(registry, api)
    with tempfile.TemporaryDirectory(prefix="propensity-retrain-") as scratch:
        cache = Path(scratch) / "cache"
        champion = registry.load(api, champion_version, cache)
        out = Path(scratch) / "bundles"
        if recalibrate_only:
            result = recalibrate(champion, combined, production, out, progress, months)
        else:
            result = train_bundle(
                combined,
                api,
                out,
                progress,
                with_time_split=False,
                config=config,
                backtest_months=months,
                backtest_jobs=jobs,
                production_rows=production,
            )
        version = result.manifest.model_version
        if any(m.model_version == version for m in registry.versions(api)):
            raise ValueError(
                f"{version} is already registered: the same config on the same rows reproduces it "
                "(no new labelled production rows since the last retrain?)"
            )
        registry.register(result.bundle_path)
        challenger = registry.load(api, version, cache)
        report = run_gate(champion, challenger, base, thresholds, recent=combined)
    record_verdict(registry, report)
    moved = False
    if report.passed:
        kind = "recalibration" if recalibrate_only else "retrain"
        make_challenger(registry, api, version, f"monthly {kind} on {production} production outcomes")
        moved = True
    return RetrainOutcome(version, report, production, moved)

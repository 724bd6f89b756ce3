"""Rolling-origin backtest: train on every month before M, test on M, for the last N months.

Each month's model is trained with the production protocol (``training.protocol``) on the
months before M only, so calibration and threshold are chosen inside the training months,
never on M. Per test month it records rows, yes rate, ROC AUC, PR AUC, F1 at the threshold,
Brier, mean predicted minus observed (calibration in the large) and ECE beside its noise
floor: the ECE a perfectly calibrated model would still show on that many rows (labels drawn
from the model's own probabilities), so a month's ECE is read against what chance gives.

This is the time-honest yardstick: the file's yes rate climbs from 3% to over 50%, so a
stratified random holdout (same months as training) rewards knowing the date.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.bundle.io import Bundle
from propensity.bundle.manifest import Backtest, BacktestMonth
from propensity.constants import ApiVersion
from propensity.data.loader import BankDataset
from propensity.data.months import ordered_months
from propensity.features.schemas import TRANSFORMS
from propensity.monitoring.metrics import classification_metrics, expected_calibration_error
from propensity.training.config import TrainingConfig
from propensity.training.protocol import (
    best_f1_threshold,
    fit_protocol,
    recent_rows,
    refit_intercept,
    window_rows,
)

Progress = Callable[[str], None]
NOISE_FLOOR_DRAWS = 200
NOISE_FLOOR_SEED = 20_101_130


def month_fingerprint(dataset: BankDataset, rows: npt.NDArray[np.intp], month: str) -> str:
    """Identifies one month's rows by content (inputs and outcomes, in order), so the same
    month pairs whether it sits in the base file or in a retraining set built from it."""
    digest = hashlib.sha256(f"{month}:".encode())
    for name in sorted(dataset.columns):
        values = dataset.columns[name]
        digest.update(repr([values[i] for i in rows]).encode())
    digest.update(np.ascontiguousarray(dataset.target[rows]).tobytes())
    return digest.hexdigest()


def ece_noise_floor(p: npt.NDArray[np.float64], draws: int = NOISE_FLOOR_DRAWS) -> float:
    """Mean ECE of a perfectly calibrated model at these probabilities and this row count."""
    if p.size == 0:
        return float("nan")
    rng = np.random.default_rng(NOISE_FLOOR_SEED)
    values = [expected_calibration_error((rng.random(p.size) < p).astype(np.int8), p) for _ in range(draws)]
    return float(np.mean(values))


@dataclass(frozen=True)
class _Task:
    month: str
    train: npt.NDArray[np.intp]
    test: npt.NDArray[np.intp]


def _none_if_nan(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def month_figures(
    month: str,
    y_test: npt.NDArray[np.int8],
    p: npt.NDArray[np.float64],
    threshold: float,
    train_rows: int,
    fingerprint: str,
    seconds: float,
) -> BacktestMonth:
    """One test month's row of the table, from its outcomes and out-of-time probabilities."""
    m = classification_metrics(y_test, p, threshold)
    return BacktestMonth(
        month=month,
        rows=int(y_test.size),
        positives=int(y_test.sum()),
        train_rows=train_rows,
        yes_rate=float(y_test.mean()),
        roc_auc=_none_if_nan(m.roc_auc),
        pr_auc=_none_if_nan(m.pr_auc),
        f1=m.f1,
        threshold=threshold,
        brier=m.brier,
        bias=float(p.mean() - y_test.mean()),
        ece=m.ece,
        ece_noise_floor=ece_noise_floor(p),
        fingerprint=fingerprint,
        seconds=round(seconds, 2),
    )


def _run_month(
    task: _Task,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.int8],
    months: npt.NDArray[np.str_],
    config: TrainingConfig,
    defaults: dict[str, Any],
    fingerprint: str,
) -> BacktestMonth:
    started = time.perf_counter()
    trained = fit_protocol(x[task.train], y[task.train], months[task.train], config, defaults, _quiet)
    p = trained.calibration.probability(trained.ensemble.raw_score(x[task.test]))
    return month_figures(
        task.month,
        y[task.test],
        p,
        trained.threshold,
        int(task.train.size),
        fingerprint,
        time.perf_counter() - started,
    )


def _quiet(_message: str) -> None:
    return None


def backtest_months(months: npt.NDArray[np.str_], count: int) -> list[str]:
    """The last ``count`` calendar months that have at least one earlier month to train on."""
    ordered = ordered_months(months)
    if len(ordered) < 2:
        raise ValueError(f"a backtest needs at least 2 calendar months of data, found {len(ordered)}")
    return ordered[1:][-count:]


def run_backtest(
    dataset: BankDataset,
    api_version: ApiVersion,
    config: TrainingConfig,
    months: int | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
) -> Backtest:
    """The rolling-origin table over the last ``months`` (default: the config's) months."""
    from propensity.training import train as train_module  # read at call time (tests patch it)
    from propensity.training.train import flat_columns

    started = time.perf_counter()
    say = progress or (lambda _m: None)
    x = TRANSFORMS[api_version](flat_columns(dataset, api_version))
    y = dataset.target
    keys = dataset.calendar_months()
    chosen = backtest_months(keys, months or config.backtest.months)
    all_rows = np.arange(len(dataset))
    tasks = [
        _Task(month, window_rows(keys, all_rows[keys < month], config), np.flatnonzero(keys == month))
        for month in chosen
    ]
    defaults = train_module.HYPERPARAMETERS[api_version]
    prints = {task.month: month_fingerprint(dataset, task.test, task.month) for task in tasks}
    say(
        f"backtest {api_version} ({config.name}): {len(tasks)} months, {chosen[0]}..{chosen[-1]}, jobs={jobs}"
    )
    results: list[BacktestMonth] = []

    def report(result: BacktestMonth, done: int) -> None:
        auc = "n/a" if result.roc_auc is None else f"{result.roc_auc:.3f}"
        say(
            f"  [{done}/{len(tasks)}] {result.month}: {result.rows} rows, ROC AUC {auc}, "
            f"bias {result.bias:+.3f}, trained on {result.train_rows} rows in {result.seconds:.1f}s "
            f"({time.perf_counter() - started:.0f}s elapsed)"
        )

    if jobs <= 1:
        for task in tasks:
            results.append(_run_month(task, x, y, keys, config, defaults, prints[task.month]))
            report(results[-1], len(results))
    else:
        # fork: workers inherit the matrices; each month is one independent training job
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            futures = [
                pool.submit(_run_month, task, x, y, keys, config, defaults, prints[task.month])
                for task in tasks
            ]
            for future in futures:
                results.append(future.result())
                report(results[-1], len(results))
    return Backtest(
        config_name=config.name,
        config_sha256=config.sha256,
        data_sha256=dataset.sha256,
        months=results,
        seconds=round(time.perf_counter() - started, 1),
    )


def recalibration_backtest(
    bundle: Bundle, dataset: BankDataset, months: int, progress: Progress | None = None
) -> Backtest:
    """Backtest of "same trees, intercept refitted on the latest labelled months before M".

    Only months after the bundle's last training month are tested: on earlier ones its trees
    have seen the rows, so the figure would not be out of time.
    """
    from propensity.training.train import flat_columns

    started = time.perf_counter()
    say = progress or _quiet
    api = bundle.manifest.api_version
    x = TRANSFORMS[api](flat_columns(dataset, api))
    raw = bundle.model.ensemble.raw_score(x)
    y = dataset.target
    keys = dataset.calendar_months()
    last = bundle.manifest.training.last_month
    chosen = [m for m in ordered_months(keys)[1:][-months:] if last is None or m > last]
    results = []
    for month in chosen:
        begun = time.perf_counter()
        before = np.flatnonzero(keys < month)
        recent = before[recent_rows(keys[before])]
        calibration = refit_intercept(bundle.model.calibration, raw[recent], y[recent])
        threshold = best_f1_threshold(y[recent], calibration.probability(raw[recent]))
        test = np.flatnonzero(keys == month)
        results.append(
            month_figures(
                month,
                y[test],
                calibration.probability(raw[test]),
                threshold,
                int(recent.size),
                month_fingerprint(dataset, test, month),
                time.perf_counter() - begun,
            )
        )
        say(f"  {month}: ROC AUC {results[-1].roc_auc}, bias {results[-1].bias:+.3f}")
    return Backtest(
        config_name=f"recalibrate-only({bundle.version})",
        config_sha256=bundle.manifest.training.config_sha256 or "",
        data_sha256=dataset.sha256,
        months=results,
        seconds=round(time.perf_counter() - started, 1),
    )

"""Train a model for one API schema version and write its bundle.

Protocol (``training.protocol``, settings from a ``training.config`` TOML file):
  1. fixed stratified 20% holdout, never seen by any fitting step (kept for reproducibility
     checks and as a secondary figure: it mixes every month into training and test, so it
     rewards knowing the date and is optimistic about next month);
  2. the configured window of the remaining 80%; k-fold out-of-fold raw scores -> Platt
     calibration (optionally its intercept refitted on the latest months) and the decision
     threshold (maximum F1), so neither is chosen on the holdout;
  3. the final gradient-boosted trees on the window, exported to numpy arrays;
  4. holdout metrics overall, per segment, reliability; reference distributions; golden cases;
  5. optionally the rolling-origin backtest (``training.backtest``), the primary figure.
A time-ordered protocol (past 64% fit, next 16% calibrate, last 20% test) is reported too.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity import __version__
from propensity.bundle.golden import GoldenCase, GoldenSet
from propensity.bundle.io import ensemble_bytes, load_bundle, write_bundle
from propensity.bundle.manifest import Backtest, Manifest, SegmentMetrics, SplitMetrics, TrainingRecord
from propensity.constants import CONFIDENCE_HIGH_FROM, CONFIDENCE_MEDIUM_FROM, ApiVersion
from propensity.data.loader import BankDataset
from propensity.features.schemas import COLUMN_NAMES, SPECS, TRANSFORMS
from propensity.features.translate import v1_columns_to_v2_flat, v1_to_v2
from propensity.model.calibration import fit_platt
from propensity.model.confidence import bands
from propensity.monitoring.metrics import classification_metrics, reliability_table
from propensity.monitoring.reference import build_reference
from propensity.segments import MIN_SEGMENT_POSITIVES, MIN_SEGMENT_ROWS, segment_labels, segment_masks
from propensity.training.config import TrainingConfig, load_config
from propensity.training.protocol import (
    Progress,
    fit_protocol,
    fit_trees,
    hyperparameters,
    method_descriptions,
    model_matrix,
    window_rows,
)
from propensity.training.protocol import (
    TrainedModel as TrainedModel,
)
from propensity.training.protocol import (
    best_f1_threshold as best_f1_threshold,
)
from propensity.training.split import HOLDOUT_SHARE, SPLIT_SEED, Split, stratified_split, time_ordered_split

HYPERPARAMETERS: dict[ApiVersion, dict[str, Any]] = {
    "v1": {
        "max_iter": 300,
        "learning_rate": 0.05,
        "max_depth": 6,
        "min_samples_leaf": 20,
        "l2_regularization": 0.0,
    },
    "v2": {
        "max_iter": 400,
        "learning_rate": 0.05,
        "max_depth": 5,
        "min_samples_leaf": 40,
        "l2_regularization": 1.0,
    },
}
CV_FOLDS = 5  # the protocol before configs (legacy_config); configs set calibration.cv_folds
GOLDEN_CASES = 24


def _stderr_progress(message: str) -> None:
    print(f"  [train] {message}", file=sys.stderr, flush=True)


def flat_columns(dataset: BankDataset, api_version: ApiVersion) -> dict[str, list[Any]]:
    """The data set as the flat records of ``api_version`` (v2 goes through the translator)."""
    return dataset.columns if api_version == "v1" else v1_columns_to_v2_flat(dataset.columns)


def _take(columns: Mapping[str, Sequence[Any]], rows: npt.NDArray[np.intp]) -> dict[str, list[Any]]:
    return {name: [values[i] for i in rows] for name, values in columns.items()}


def check_export(trained: TrainedModel, x: npt.NDArray[np.float64]) -> float:
    """Largest difference between scikit-learn's raw score and the exported trees' (must be ~0).

    ``x`` is the full model matrix, as serving builds it (excluded inputs included): the trees
    never split on excluded columns, so both must agree on it too.
    """
    if trained.sklearn_model is None:  # recalibration only: the trees are the champion's, verified
        return 0.0
    difference = float(
        np.max(np.abs(trained.sklearn_model.decision_function(x) - trained.ensemble.raw_score(x)))
    )
    if difference > 1e-9:
        raise RuntimeError(f"exported trees differ from scikit-learn by {difference}")
    return difference


def split_metrics(
    split: Split,
    columns: Mapping[str, Sequence[Any]],
    y: npt.NDArray[np.int8],
    p: npt.NDArray[np.float64],
    threshold: float,
    api_version: ApiVersion,
) -> SplitMetrics:
    """Holdout figures overall and per segment for one split."""
    segments: dict[str, list[SegmentMetrics]] = {}
    for family, labels in segment_labels(columns, api_version).items():
        rows = []
        for label, mask in segment_masks(labels).items():
            metrics = classification_metrics(y[mask], p[mask], threshold)
            small = metrics.n < MIN_SEGMENT_ROWS or metrics.positives < MIN_SEGMENT_POSITIVES
            rows.append(SegmentMetrics(label=label, small=small, metrics=metrics))
        segments[family] = rows
    return SplitMetrics(
        method=split.method,
        holdout_rows=int(split.holdout.size),
        holdout_fingerprint=split.fingerprint,
        overall=classification_metrics(y, p, threshold),
        segments=segments,
        reliability=reliability_table(y, p),
    )


def golden_cases(
    api_version: ApiVersion, records: list[dict[str, Any]], p: npt.NDArray[np.float64], threshold: float
) -> list[GoldenCase]:
    """Holdout rows spread over the score range, so every decision and band is exercised."""
    order = np.argsort(p, kind="mergesort")
    picks = sorted({int(order[int(q)]) for q in np.linspace(0, len(order) - 1, GOLDEN_CASES)})
    band = bands(p, threshold)
    cases = []
    for i in picks:
        body = records[i] if api_version == "v1" else v1_to_v2(records[i])
        cases.append(
            GoldenCase(
                name=f"holdout-row-{i}",
                request=body,
                probability=float(p[i]),
                decision="yes" if p[i] >= threshold else "no",
                confidence=str(band[i]),
            )
        )
    return cases


def _model_version(api_version: ApiVersion, trained: TrainedModel, identity: str) -> str:
    """Content-derived: the model itself plus what it was trained with (config, data rows)."""
    digest = hashlib.sha256(ensemble_bytes_for_hash(trained) + identity.encode()).hexdigest()[:10]
    return f"{api_version}-{digest}"


def ensemble_bytes_for_hash(trained: TrainedModel) -> bytes:
    arrays = trained.ensemble.to_arrays()
    digest = b"".join(np.ascontiguousarray(arrays[k]).tobytes() for k in sorted(arrays))
    return digest + repr((trained.calibration, trained.threshold)).encode()


def rows_fingerprint(dataset: BankDataset, rows: npt.NDArray[np.intp]) -> str:
    """Identifies the training rows (of base data plus any production rows)."""
    digest = hashlib.sha256(dataset.sha256.encode())
    digest.update(np.asarray(rows, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(dataset.target[rows]).tobytes())
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    import pydantic
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "pydantic": pydantic.__version__,
        "propensity": __version__,
    }


@dataclass(frozen=True)
class TrainingResult:
    bundle_path: Path
    manifest: Manifest
    trained: TrainedModel
    holdout_rows: npt.NDArray[np.intp]


def train_bundle(
    dataset: BankDataset,
    api_version: ApiVersion,
    output_dir: Path,
    progress: Progress = _stderr_progress,
    with_time_split: bool = True,
    config: TrainingConfig | None = None,
    backtest_months: int = 0,
    backtest_jobs: int = 1,
    production_rows: int = 0,
) -> TrainingResult:
    """Train, evaluate and write a bundle under ``output_dir/<model-version>``.

    ``config`` defaults to the committed default of the API version; ``backtest_months``
    (0: none) runs the rolling-origin backtest with the same config and records it. The last
    ``production_rows`` rows of ``dataset`` (labelled production traffic appended to the base
    data) are training-only: the stratified holdout is drawn from the base rows, so it stays
    the champion's.
    """
    started = time.perf_counter()
    config = config or load_config(None, api_version)
    if config.api_version != api_version:
        raise ValueError(f"config {config.name!r} is for {config.api_version}, not {api_version}")
    columns = flat_columns(dataset, api_version)
    x_all = TRANSFORMS[api_version](columns)
    y_all = dataset.target
    months = dataset.calendar_months()
    base_rows = len(dataset) - production_rows
    split = stratified_split(y_all[:base_rows], dataset.sha256)
    pool = np.concatenate([split.train, np.arange(base_rows, len(dataset))])
    train_rows = window_rows(months, pool, config)
    progress(
        f"{api_version} ({config.name}, config {config.sha256[:12]}): {len(dataset)} rows "
        f"({production_rows} from production), {x_all.shape[1]} model columns, training on "
        f"{train_rows.size} rows ({months[train_rows[0]]}..{months[train_rows[-1]]}), "
        f"holdout {split.holdout.size} rows (stratified)"
    )
    defaults = HYPERPARAMETERS[api_version]
    trained = fit_protocol(
        x_all[train_rows], y_all[train_rows], months[train_rows], config, defaults, progress
    )
    time_ordered = None
    if with_time_split:
        time_ordered = _time_ordered_metrics(dataset, columns, x_all, config, progress)
    backtest = None
    if backtest_months:
        from propensity.training.backtest import run_backtest

        backtest = run_backtest(dataset, api_version, config, backtest_months, progress, backtest_jobs)
    return write_trained_bundle(
        TrainingInputs(dataset, split, train_rows, production_rows, config, started),
        trained,
        output_dir,
        progress,
        backtest=backtest,
        time_ordered=time_ordered,
    )


@dataclass(frozen=True)
class TrainingInputs:
    """What a model was trained from (recorded in its manifest)."""

    dataset: BankDataset
    split: Split
    train_rows: npt.NDArray[np.intp]
    production_rows: int
    config: TrainingConfig
    started: float  # perf_counter at the start of training


def write_trained_bundle(
    inputs: TrainingInputs,
    trained: TrainedModel,
    output_dir: Path,
    progress: Progress,
    *,
    backtest: Backtest | None,
    time_ordered: SplitMetrics | None = None,
    methods: tuple[str, str] | None = None,
    recalibrated_from: str | None = None,
) -> TrainingResult:
    """Evaluate ``trained`` on the stratified holdout and write, load and verify its bundle."""
    dataset, split, config, train_rows = inputs.dataset, inputs.split, inputs.config, inputs.train_rows
    api_version = config.api_version
    columns = flat_columns(dataset, api_version)
    x_all = TRANSFORMS[api_version](columns)
    y_all = dataset.target
    months = dataset.calendar_months()
    x_hold, y_hold = x_all[split.holdout], y_all[split.holdout]
    check_export(trained, x_hold)
    p_hold = trained.calibration.probability(trained.ensemble.raw_score(x_hold))
    hold_columns = _take(columns, split.holdout)
    metrics = {
        "stratified": split_metrics(split, hold_columns, y_hold, p_hold, trained.threshold, api_version)
    }
    if time_ordered is not None:
        metrics["time_ordered"] = time_ordered
    seconds = time.perf_counter() - inputs.started
    created = datetime.now(UTC)
    identity = f"{config.sha256}:{rows_fingerprint(dataset, train_rows)}"
    version = _model_version(api_version, trained, identity)
    records = dataset.take(split.holdout).records()
    golden = GoldenSet(
        api_version=api_version,
        model_version=version,
        cases=golden_cases(api_version, records, p_hold, trained.threshold),
    )
    threshold_method, calibration_method = methods or method_descriptions(config)
    manifest = Manifest(
        model_version=version,
        api_version=api_version,
        created_at=created,
        library_versions=_library_versions(),
        training=TrainingRecord(
            data_sha256=dataset.sha256,
            data_rows=len(dataset),
            data_source=Path(dataset.source).name,
            split_seed=SPLIT_SEED,
            holdout_share=HOLDOUT_SHARE,
            hyperparameters=hyperparameters(config, HYPERPARAMETERS[api_version]),
            threshold_method=threshold_method,
            calibration_method=calibration_method,
            seconds=seconds,
            config=config.model_dump(mode="json"),
            config_sha256=config.sha256,
            excluded_features=list(config.model.exclude_features),
            first_month=min(months[train_rows].tolist()),
            last_month=max(months[train_rows].tolist()),
            training_rows=int(train_rows.size),
            production_rows=inputs.production_rows,
            recalibrated_from=recalibrated_from,
        ),
        features=list(SPECS[api_version].names),
        model_columns=list(COLUMN_NAMES[api_version]),
        threshold=trained.threshold,
        confidence_bands={"medium_from": CONFIDENCE_MEDIUM_FROM, "high_from": CONFIDENCE_HIGH_FROM},
        calibration={"slope": trained.calibration.slope, "intercept": trained.calibration.intercept},
        gate_split="stratified",
        metrics=metrics,
        backtest=backtest,
        reference=build_reference(
            SPECS[api_version],
            hold_columns,
            y_hold,
            p_hold,
            trained.threshold,
            answers=None if trained.tuned_on is None else (*trained.tuned_on, "latest months"),
        ),
        files={},
    )
    from propensity.bundle.card import render_card

    extra = render_card(manifest)
    path = write_bundle(output_dir / version, manifest, ensemble_bytes(trained.ensemble), golden, extra)
    progress(f"{api_version}: bundle {version} written in {time.perf_counter() - inputs.started:.1f}s")
    bundle = load_bundle(path, api_version)  # prove the written bundle loads and verifies
    return TrainingResult(path, bundle.manifest, trained, split.holdout)


def _time_ordered_metrics(
    dataset: BankDataset,
    columns: Mapping[str, Sequence[Any]],
    x_all: npt.NDArray[np.float64],
    config: TrainingConfig,
    progress: Progress,
) -> SplitMetrics:
    """Past 64% fit, next 16% calibrate and pick the threshold, last 20% test."""
    api_version = config.api_version
    split = time_ordered_split(len(dataset), dataset.sha256)
    calibrate_from = round(split.train.size * 0.8)
    fit_rows, calibrate_rows = split.train[:calibrate_from], split.train[calibrate_from:]
    x_all = model_matrix(x_all, config)
    params = hyperparameters(config, HYPERPARAMETERS[api_version])
    model = fit_trees(x_all[fit_rows], dataset.target[fit_rows], params)
    calibration = fit_platt(model.decision_function(x_all[calibrate_rows]), dataset.target[calibrate_rows])
    p_cal = calibration.probability(model.decision_function(x_all[calibrate_rows]))
    threshold = best_f1_threshold(dataset.target[calibrate_rows], p_cal)
    p_test = calibration.probability(model.decision_function(x_all[split.holdout]))
    progress(f"{api_version}: time-ordered comparison model fitted")
    return split_metrics(
        split, _take(columns, split.holdout), dataset.target[split.holdout], p_test, threshold, api_version
    )

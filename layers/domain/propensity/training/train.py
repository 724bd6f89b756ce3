"""Train a model for one API schema version and write its bundle.

Protocol (stratified split; the gate's yardstick):
  1. fixed stratified 20% holdout, never seen by any fitting step;
  2. 5-fold out-of-fold raw scores on the remaining 80% -> Platt calibration and the decision
     threshold (maximum F1), so neither is chosen on the holdout;
  3. the final gradient-boosted trees on the whole 80%, exported to numpy arrays;
  4. holdout metrics overall, per segment, reliability; reference distributions; golden cases.
A second, time-ordered protocol (past 64% fit, next 16% calibrate, last 20% test) is reported
next to it.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity import __version__
from propensity.bundle.golden import GoldenCase, GoldenSet
from propensity.bundle.io import ensemble_bytes, load_bundle, write_bundle
from propensity.bundle.manifest import Manifest, SegmentMetrics, SplitMetrics, TrainingRecord
from propensity.constants import CONFIDENCE_HIGH_FROM, CONFIDENCE_MEDIUM_FROM, ApiVersion
from propensity.data.loader import BankDataset
from propensity.features.schemas import COLUMN_NAMES, SPECS, TRANSFORMS
from propensity.features.translate import v1_columns_to_v2_flat, v1_to_v2
from propensity.model.calibration import PlattCalibration, fit_platt
from propensity.model.confidence import bands
from propensity.model.trees import TreeEnsemble, export_hist_gradient_boosting
from propensity.monitoring.metrics import classification_metrics, reliability_table
from propensity.monitoring.reference import build_reference
from propensity.segments import MIN_SEGMENT_POSITIVES, MIN_SEGMENT_ROWS, segment_labels, segment_masks
from propensity.training.split import (
    HOLDOUT_SHARE,
    SPLIT_SEED,
    Split,
    stratified_folds,
    stratified_split,
    time_ordered_split,
)

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
CV_FOLDS = 5
GOLDEN_CASES = 24
Progress = Callable[[str], None]


def _stderr_progress(message: str) -> None:
    print(f"  [train] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class TrainedModel:
    """What training produced, before it is written as a bundle."""

    api_version: ApiVersion
    sklearn_model: Any
    ensemble: TreeEnsemble
    calibration: PlattCalibration
    threshold: float


def flat_columns(dataset: BankDataset, api_version: ApiVersion) -> dict[str, list[Any]]:
    """The data set as the flat records of ``api_version`` (v2 goes through the translator)."""
    return dataset.columns if api_version == "v1" else v1_columns_to_v2_flat(dataset.columns)


def _take(columns: Mapping[str, Sequence[Any]], rows: npt.NDArray[np.intp]) -> dict[str, list[Any]]:
    return {name: [values[i] for i in rows] for name, values in columns.items()}


def _fit_trees(x: npt.NDArray[np.float64], y: npt.NDArray[np.int8], params: dict[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=0, early_stopping=False, **params).fit(x, y)


def best_f1_threshold(y: npt.NDArray[Any], p: npt.NDArray[np.float64]) -> float:
    """Decision threshold maximising F1 on (out-of-fold) calibrated probabilities."""
    candidates = np.round(np.arange(0.05, 0.951, 0.01), 2)
    y_b = y.astype(bool)
    scores = []
    for t in candidates:
        d = p >= t
        tp = np.sum(d & y_b)
        denominator = 2 * tp + np.sum(d & ~y_b) + np.sum(~d & y_b)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(candidates[int(np.argmax(scores))])


def fit_model(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.int8], api_version: ApiVersion, progress: Progress
) -> TrainedModel:
    """Out-of-fold calibration and threshold, then the final model on all of ``x``."""
    params = HYPERPARAMETERS[api_version]
    oof_raw = np.zeros(y.size)
    folds = stratified_folds(y, CV_FOLDS, SPLIT_SEED)
    for i, fold in enumerate(folds, start=1):
        fit_rows = np.setdiff1d(np.arange(y.size), fold)
        started = time.perf_counter()
        fold_model = _fit_trees(x[fit_rows], y[fit_rows], params)
        oof_raw[fold] = fold_model.decision_function(x[fold])
        progress(f"fold {i}/{len(folds)} fitted in {time.perf_counter() - started:.1f}s")
    calibration = fit_platt(oof_raw, y)
    threshold = best_f1_threshold(y, calibration.probability(oof_raw))
    started = time.perf_counter()
    final = _fit_trees(x, y, params)
    progress(f"final model fitted in {time.perf_counter() - started:.1f}s; threshold {threshold:.2f}")
    ensemble = export_hist_gradient_boosting(final)
    return TrainedModel(api_version, final, ensemble, calibration, threshold)


def check_export(trained: TrainedModel, x: npt.NDArray[np.float64]) -> float:
    """Largest difference between scikit-learn's raw score and the exported trees' (must be ~0)."""
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


def _model_version(api_version: ApiVersion, trained: TrainedModel, created: datetime) -> str:
    digest = hashlib.sha256(ensemble_bytes_for_hash(trained)).hexdigest()[:10]
    return f"{api_version}-{digest}"


def ensemble_bytes_for_hash(trained: TrainedModel) -> bytes:
    arrays = trained.ensemble.to_arrays()
    digest = b"".join(np.ascontiguousarray(arrays[k]).tobytes() for k in sorted(arrays))
    return digest + repr((trained.calibration, trained.threshold)).encode()


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
) -> TrainingResult:
    """Train, evaluate and write a bundle under ``output_dir/<model-version>``."""
    started = time.perf_counter()
    columns = flat_columns(dataset, api_version)
    x_all = TRANSFORMS[api_version](columns)
    y_all = dataset.target
    split = stratified_split(y_all, dataset.sha256)
    progress(
        f"{api_version}: {len(dataset)} rows, {x_all.shape[1]} model columns, "
        f"holdout {split.holdout.size} rows (stratified)"
    )
    trained = fit_model(x_all[split.train], y_all[split.train], api_version, progress)
    x_hold, y_hold = x_all[split.holdout], y_all[split.holdout]
    check_export(trained, x_hold)
    p_hold = trained.calibration.probability(trained.ensemble.raw_score(x_hold))
    hold_columns = _take(columns, split.holdout)
    metrics = {
        "stratified": split_metrics(split, hold_columns, y_hold, p_hold, trained.threshold, api_version)
    }
    if with_time_split:
        metrics["time_ordered"] = _time_ordered_metrics(dataset, columns, x_all, api_version, progress)
    seconds = time.perf_counter() - started
    created = datetime.now(UTC)
    version = _model_version(api_version, trained, created)
    records = dataset.take(split.holdout).records()
    golden = GoldenSet(
        api_version=api_version,
        model_version=version,
        cases=golden_cases(api_version, records, p_hold, trained.threshold),
    )
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
            hyperparameters=HYPERPARAMETERS[api_version],
            threshold_method=f"max F1 on {CV_FOLDS}-fold out-of-fold calibrated probabilities",
            calibration_method=f"Platt scaling on {CV_FOLDS}-fold out-of-fold raw scores",
            seconds=seconds,
        ),
        features=list(SPECS[api_version].names),
        model_columns=list(COLUMN_NAMES[api_version]),
        threshold=trained.threshold,
        confidence_bands={"medium_from": CONFIDENCE_MEDIUM_FROM, "high_from": CONFIDENCE_HIGH_FROM},
        calibration={"slope": trained.calibration.slope, "intercept": trained.calibration.intercept},
        gate_split="stratified",
        metrics=metrics,
        reference=build_reference(SPECS[api_version], hold_columns, y_hold, p_hold, trained.threshold),
        files={},
    )
    from propensity.bundle.card import render_card

    extra = render_card(manifest)
    path = write_bundle(output_dir / version, manifest, ensemble_bytes(trained.ensemble), golden, extra)
    progress(f"{api_version}: bundle {version} written in {time.perf_counter() - started:.1f}s")
    bundle = load_bundle(path, api_version)  # prove the written bundle loads and verifies
    return TrainingResult(path, bundle.manifest, trained, split.holdout)


def _time_ordered_metrics(
    dataset: BankDataset,
    columns: Mapping[str, Sequence[Any]],
    x_all: npt.NDArray[np.float64],
    api_version: ApiVersion,
    progress: Progress,
) -> SplitMetrics:
    """Past 64% fit, next 16% calibrate and pick the threshold, last 20% test."""
    split = time_ordered_split(len(dataset), dataset.sha256)
    calibrate_from = round(split.train.size * 0.8)
    fit_rows, calibrate_rows = split.train[:calibrate_from], split.train[calibrate_from:]
    model = _fit_trees(x_all[fit_rows], dataset.target[fit_rows], HYPERPARAMETERS[api_version])
    calibration = fit_platt(model.decision_function(x_all[calibrate_rows]), dataset.target[calibrate_rows])
    p_cal = calibration.probability(model.decision_function(x_all[calibrate_rows]))
    threshold = best_f1_threshold(dataset.target[calibrate_rows], p_cal)
    p_test = calibration.probability(model.decision_function(x_all[split.holdout]))
    progress(f"{api_version}: time-ordered comparison model fitted")
    return split_metrics(
        split, _take(columns, split.holdout), dataset.target[split.holdout], p_test, threshold, api_version
    )

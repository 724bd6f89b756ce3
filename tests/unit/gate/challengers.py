"""Real challenger bundles derived from a trained one: same format, recomputed holdout metrics.

Each one is written as a bundle folder with ``write_bundle`` and loads (and verifies) like any
trained bundle, so the gate, the registry and the promotion commands see nothing special.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from propensity.bundle.golden import GoldenSet
from propensity.bundle.io import Bundle, ensemble_bytes, load_bundle, write_bundle
from propensity.data.loader import BankDataset
from propensity.features.schemas import SPECS
from propensity.model.calibration import PlattCalibration
from propensity.model.scoring import ScoringModel
from propensity.model.trees import TreeEnsemble
from propensity.monitoring.reference import build_reference
from propensity.training.split import stratified_split
from propensity.training.train import flat_columns, golden_cases, split_metrics


def derive_bundle(
    base: Bundle,
    dataset: BankDataset,
    out_dir: Path,
    suffix: str,
    *,
    ensemble: TreeEnsemble | None = None,
    calibration: PlattCalibration | None = None,
    recompute_metrics: bool = True,
) -> Bundle:
    """``base`` with another ensemble and/or calibration, as a new version ``<base>-<suffix>``.

    Holdout metrics, reference distributions and golden cases are recomputed for the new
    model exactly as training computes them, so the manifest tells the truth about it
    (``recompute_metrics=False`` keeps the base's figures: a manifest that lies).
    """
    api = base.manifest.api_version
    model = ScoringModel(
        schema_version=api,
        ensemble=ensemble or base.model.ensemble,
        calibration=calibration or base.model.calibration,
        threshold=base.model.threshold,
    )
    split = stratified_split(dataset.target, dataset.sha256)
    holdout = dataset.take(split.holdout)
    columns = flat_columns(holdout, api)
    p = model.score(columns).probability
    version = f"{base.version}-{suffix}"
    metrics = {"stratified": split_metrics(split, columns, holdout.target, p, model.threshold, api)}
    golden = GoldenSet(
        api_version=api,
        model_version=version,
        cases=golden_cases(api, holdout.records(), p, model.threshold),
    )
    update = {
        "model_version": version,
        "created_at": datetime.now(UTC),
        "calibration": {"slope": model.calibration.slope, "intercept": model.calibration.intercept},
        "validation": [],
        "approvals": [],
    }
    if recompute_metrics:
        update["metrics"] = metrics
        update["reference"] = build_reference(SPECS[api], columns, holdout.target, p, model.threshold)
    manifest = base.manifest.model_copy(update=update)
    path = write_bundle(out_dir / version, manifest, ensemble_bytes(model.ensemble), golden, {})
    return load_bundle(path, api)


def _leaves(ensemble: TreeEnsemble) -> np.ndarray:
    return np.flatnonzero(ensemble.left == np.arange(ensemble.left.size))


def noisy_leaves(ensemble: TreeEnsemble, scale: float, seed: int) -> TreeEnsemble:
    """Every leaf value jittered by N(0, scale): a model that ranks worse the larger ``scale`` is."""
    value = ensemble.value.copy()
    leaves = _leaves(ensemble)
    value[leaves] += np.random.default_rng(seed).normal(0.0, scale, leaves.size)
    return replace(ensemble, value=value)


def segment_perturbed(ensemble: TreeEnsemble, column: int, factors: np.ndarray | float) -> TreeEnsemble:
    """Rows with ``x[column] > 0.5`` (one one-hot category) get every tree again, times a factor.

    Each tree is copied under a new root that sends the category's rows into the copy (leaf
    values times that tree's factor) and everyone else to a zero leaf: every other row scores
    exactly as before. A factor of -2 for all trees reverses the category's ranking; random
    factors per tree re-weight the trees at random, which blurs it.
    """
    factor_per_tree = np.broadcast_to(np.asarray(factors, dtype=np.float64), ensemble.roots.shape)
    n = ensemble.feature.size
    feature, threshold = [ensemble.feature], [ensemble.threshold]
    left, right = [ensemble.left], [ensemble.right]
    missing, value = [ensemble.missing_left], [ensemble.value]
    roots = list(ensemble.roots)
    sizes = np.diff(np.r_[ensemble.roots, n])
    offset = n
    for root, size, factor in zip(ensemble.roots, sizes, factor_per_tree, strict=True):
        gate, zero_leaf, copy_start = offset, offset + 1, offset + 2
        shift = copy_start - root
        nodes = slice(root, root + size)
        feature.append(np.array([column, 0], dtype=np.int32))
        threshold.append(np.array([0.5, np.inf]))
        left.append(np.array([zero_leaf, zero_leaf], dtype=np.int32))
        right.append(np.array([copy_start, zero_leaf], dtype=np.int32))
        missing.append(np.array([True, True]))
        value.append(np.array([0.0, 0.0]))
        feature.append(ensemble.feature[nodes])
        threshold.append(ensemble.threshold[nodes])
        left.append(ensemble.left[nodes] + shift)
        right.append(ensemble.right[nodes] + shift)
        missing.append(ensemble.missing_left[nodes])
        value.append(ensemble.value[nodes] * factor)
        roots.append(gate)
        offset = copy_start + size
    return TreeEnsemble(
        feature=np.concatenate(feature).astype(np.int32),
        threshold=np.concatenate(threshold),
        left=np.concatenate(left).astype(np.int32),
        right=np.concatenate(right).astype(np.int32),
        missing_left=np.concatenate(missing),
        value=np.concatenate(value),
        roots=np.asarray(roots, dtype=np.int32),
        baseline=ensemble.baseline,
        depth=ensemble.depth + 1,
        n_features=ensemble.n_features,
    )


def shifted_calibration(calibration: PlattCalibration, logits: float) -> PlattCalibration:
    """Every probability pushed by ``logits`` on the log-odds scale: same ranking, broken calibration."""
    return PlattCalibration(slope=calibration.slope, intercept=calibration.intercept + logits)


def job_column(bundle: Bundle, job: str) -> int:
    """Index of the one-hot model column of a job category."""
    return bundle.manifest.model_columns.index(f"job={job}")

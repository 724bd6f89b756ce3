"""Shared fixtures: the real data, trained bundles, a local registry.

Training on the real data takes about 35 s for both API versions, so it happens once per
test session; tests that need a model use ``bundles`` or ``registry`` and never retrain.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from propensity.bundle.io import Bundle, load_bundle
from propensity.constants import API_VERSIONS
from propensity.data.loader import ENV_VAR, BankDataset, load_bank_marketing
from propensity.data.synthetic import write_synthetic_csv
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from propensity.training.train import TrainingResult, train_bundle

# One OpenMP thread for scikit-learn's trees in tests: on a busy 2-core machine, OpenMP's
# spinning barriers make 2-thread training many times slower, not faster.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "bank.zip"


def real_data_path() -> Path | None:
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured)
    return SHARED_DATA if SHARED_DATA.exists() else None


@pytest.fixture(scope="session")
def bank_data() -> BankDataset:
    """The real UCI data, from the documented source order (CI sets BANK_MARKETING_DATA).

    Without it, the loader falls back to the .data/ cache and then the UCI download, and fails
    with a message saying what to set: the suite never silently skips the real-data tests.
    """
    return load_bank_marketing(real_data_path())


@pytest.fixture(scope="session")
def trained(bank_data: BankDataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainingResult]:
    """v1 and v2 trained once per session on the real data, with their committed configs and a
    2-month backtest (what the gate judges on time; production bundles record 10 months)."""
    out = tmp_path_factory.mktemp("bundles")
    return {
        api: train_bundle(bank_data, api, out, progress=lambda _m: None, backtest_months=2)
        for api in API_VERSIONS
    }


@pytest.fixture(scope="session")
def bundles(trained: dict[str, TrainingResult]) -> dict[str, Bundle]:
    """Loaded, verified bundles per API version (read-only: copy before modifying)."""
    return {api: load_bundle(result.bundle_path, api) for api, result in trained.items()}


@pytest.fixture
def registry(tmp_path: Path, trained: dict[str, TrainingResult]) -> Registry:
    """A fresh local registry holding both trained bundles, each as champion."""
    reg = Registry(LocalBlobStore(tmp_path / "registry"))
    for api, result in trained.items():
        manifest = reg.register(result.bundle_path)
        reg.set_alias(api, "champion", manifest.model_version, reason="test fixture", actor="pytest")
    return reg


@pytest.fixture
def bundle_copy(tmp_path: Path, trained: dict[str, TrainingResult]):
    """Factory: a writable copy of a trained bundle folder."""

    def make(api: str) -> Path:
        target = tmp_path / f"copy-{api}"
        shutil.copytree(trained[api].bundle_path, target)
        return target

    return make


@pytest.fixture
def synthetic_csv(tmp_path: Path) -> Path:
    """A small deterministic csv shaped like bank-full.csv (no real data needed)."""
    return write_synthetic_csv(tmp_path / "bank-full.csv", rows=3000, seed=11)


@pytest.fixture(autouse=True)
def _fresh_observability():
    """Every test starts like a new execution environment: no metrics, no appended log keys, cold."""
    from aws_lambda_powertools.metrics.provider import cold_start

    from propensity import lambda_log
    from propensity.observability import logger, metrics

    metrics.clear_metrics()
    logger.clear_state()
    cold_start.reset_cold_start_flag()
    lambda_log.logger.clear_state()  # the prediction path's logger (Powertools' lines, stdlib only)
    lambda_log.reset_cold_start()
    # An in-process ``evaluate`` run quiets the logger for its terminal, also from module-scoped
    # fixtures (the evaluation replay), so every test starts at the level the logger was made with.
    logger.setLevel(logger.initial_log_level)
    yield
    metrics.clear_metrics()
    logger.clear_state()
    lambda_log.logger.clear_state()

"""The backtest protocol: each month's model, calibration and threshold see only earlier months;
excluded inputs never reach the trees, and serving (full matrix) matches scikit-learn."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from propensity.data.loader import BankDataset, load_bank_marketing
from propensity.data.synthetic import write_synthetic_csv
from propensity.features.schemas import TRANSFORMS
from propensity.model.calibration import PlattCalibration
from propensity.model.scoring import ScoringModel
from propensity.training.backtest import ece_noise_floor, run_backtest
from propensity.training.config import parse_config
from propensity.training.protocol import fit_protocol, recent_rows, refit_intercept
from propensity.training.train import HYPERPARAMETERS

FAST = """
name = "fast"
[model.hyperparameters]
max_iter = 25
learning_rate = 0.2
max_depth = 3
[calibration]
method = "platt_recent_intercept"
cv_folds = 2
[backtest]
months = 3
"""
MONTHS = ("2009-01", "2009-02", "2009-03", "2009-04", "2009-05", "2009-06")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> BankDataset:
    path = write_synthetic_csv(tmp_path_factory.mktemp("data") / "bank-full.csv", rows=3000)
    data = load_bank_marketing(path, expected_sha256=None)
    return replace(data, months=np.repeat(MONTHS, 500))


def _flip_from(data: BankDataset, month: str) -> BankDataset:
    """The same data with every outcome of ``month`` and later inverted."""
    target = data.target.copy()
    later = data.calendar_months() >= month
    target[later] = 1 - target[later]
    return replace(data, target=target)


def test_a_month_result_does_not_depend_on_its_own_or_later_outcomes(synthetic):
    config = parse_config(FAST, "v1")
    honest = run_backtest(synthetic, "v1", config)
    assert [m.month for m in honest.months] == list(MONTHS[-3:])
    flipped = run_backtest(_flip_from(synthetic, "2009-05"), "v1", config)
    # 2009-04 was trained and calibrated on months before it: flipping later outcomes changes nothing
    assert flipped.months[0].model_dump(exclude={"seconds"}) == honest.months[0].model_dump(
        exclude={"seconds"}
    )
    # 2009-05's threshold and probabilities come from earlier months only: its threshold and
    # mean prediction are unchanged while the observed outcomes (and so the figures) flip
    before, after = honest.months[1], flipped.months[1]
    assert after.threshold == before.threshold
    assert after.bias + after.yes_rate == pytest.approx(before.bias + before.yes_rate)
    assert after.yes_rate == pytest.approx(1 - before.yes_rate)
    assert after.roc_auc == pytest.approx(1 - before.roc_auc)


def test_parallel_backtest_gives_the_same_table(synthetic):
    config = parse_config(FAST, "v1")
    serial = run_backtest(synthetic, "v1", config, months=2)
    parallel = run_backtest(synthetic, "v1", config, months=2, jobs=2)
    assert [m.model_dump(exclude={"seconds"}) for m in serial.months] == [
        m.model_dump(exclude={"seconds"}) for m in parallel.months
    ]


def test_excluded_inputs_never_reach_the_trees_and_serving_matches_sklearn(synthetic):
    config = parse_config(
        FAST.replace(
            "[model.hyperparameters]",
            '[model]\nexclude_features = ["day", "month", "contact"]\n[model.hyperparameters]',
        ),
        "v1",
    )
    x = TRANSFORMS["v1"](synthetic.columns)
    trained = fit_protocol(
        x, synthetic.target, synthetic.calendar_months(), config, HYPERPARAMETERS["v1"], lambda _m: None
    )
    excluded = set(config.excluded_columns())
    ensemble = trained.ensemble
    internal = ensemble.left != np.arange(ensemble.left.size)
    assert not excluded & set(ensemble.feature[internal].tolist())
    # serving builds the FULL matrix (excluded inputs present and varying) and must agree with
    # scikit-learn to float rounding
    model = ScoringModel("v1", ensemble, trained.calibration, trained.threshold)
    served = model.probability(model.matrix(synthetic.columns))
    expected = trained.calibration.probability(trained.sklearn_model.decision_function(x))
    assert np.max(np.abs(served - expected)) <= 1e-9


def test_recent_intercept_refit_matches_the_latest_rate():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(raw + 1.5)))).astype(np.int8)  # base rate moved up
    refit = refit_intercept(PlattCalibration(1.0, 0.0), raw, y)
    assert refit.slope == 1.0
    assert refit.intercept == pytest.approx(1.5, abs=0.15)
    assert refit.probability(raw).mean() == pytest.approx(y.mean(), abs=1e-6)  # MLE: mean matches


def test_recent_rows_take_whole_latest_months_until_enough():
    months = np.array(["2009-01"] * 300 + ["2009-02"] * 120 + ["2009-03"] * 90)
    chosen = recent_rows(months, minimum=200)
    assert set(months[chosen]) == {"2009-02", "2009-03"}


def test_ece_noise_floor_shrinks_with_rows():
    small = ece_noise_floor(np.full(100, 0.3))
    large = ece_noise_floor(np.full(10_000, 0.3))
    assert small > 4 * large
    assert 0.02 < small < 0.08

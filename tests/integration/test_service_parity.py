"""Parity: for every stratified holdout row, the service answers what the training pipeline's model computes.

The reference is scikit-learn's own fitted model (``decision_function``) with the Platt
calibration and threshold chosen in training; the service scores with the exported numpy
trees in their serving layout. Same float64 arithmetic, so the tolerance is 1e-6 (the worst
row is reported) and every decision must be identical.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from mangum import Mangum

from propensity.features.schemas import TRANSFORMS
from propensity.features.translate import v1_to_v2
from propensity.service.app import create_app
from propensity.training.train import flat_columns
from tests.events import LambdaContext, api_gateway_event
from tests.service_support import make_settings

TOLERANCE = 1e-6
BATCH = 1000


@pytest.fixture(scope="module")
def handler(bundles) -> Mangum:
    # Quiet service: no event lines, no EMF (9,000 predictions would only flood the capture).
    return Mangum(
        create_app(make_settings(bundles, events_to_stdout=False, metrics_flush="off")), lifespan="off"
    )


def training_reference(trained, bank_data, api: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Holdout rows, scikit-learn's calibrated probabilities and decisions for them."""
    result = trained[api]
    rows = result.holdout_rows
    x = TRANSFORMS[api](flat_columns(bank_data, api))[rows]
    model = result.trained
    probability = model.calibration.probability(model.sklearn_model.decision_function(x))
    return rows, probability, probability >= model.threshold


def report(api: str, served: np.ndarray, expected: np.ndarray, rows: np.ndarray) -> str:
    worst = int(np.argmax(np.abs(served - expected)))
    return (
        f"{api}: {len(rows)} holdout rows, worst |service - training| = {abs(served[worst] - expected[worst]):.3g} "
        f"at holdout row {int(rows[worst])} (service {served[worst]:.12f}, training {expected[worst]:.12f})"
    )


def test_v2_batch_endpoint_matches_training_on_every_holdout_row(handler, trained, bank_data, capsys):
    # Given every stratified holdout row as a v2 body, and the training pipeline's answers
    rows, expected, expected_yes = training_reference(trained, bank_data, "v2")
    bodies = [v1_to_v2(record) for record in bank_data.take(rows).records()]
    # When the service scores them through the batch endpoint, 1,000 at a time
    served: list[float] = []
    decisions: list[bool] = []
    for start in range(0, len(bodies), BATCH):
        event = api_gateway_event("POST", "/v2/predict/batch", {"records": bodies[start : start + BATCH]})
        response = handler(event, LambdaContext())
        assert response["statusCode"] == 200
        results = json.loads(response["body"])["results"]
        served += [r["probability"] for r in results]
        decisions += [r["decision"] == "yes" for r in results]
    # Then every probability is within 1e-6 and every decision is identical
    served_array = np.array(served)
    with capsys.disabled():
        print("\n" + report("v2", served_array, expected, rows))
    assert len(served) == len(rows)
    assert np.max(np.abs(served_array - expected)) <= TOLERANCE, report("v2", served_array, expected, rows)
    assert np.array_equal(np.array(decisions), expected_yes)


def test_v1_predict_matches_training_on_every_holdout_row(handler, trained, bank_data, capsys):
    # Given every stratified holdout row as a v1 body (the contract's shape)
    rows, expected, expected_yes = training_reference(trained, bank_data, "v1")
    records = bank_data.take(rows).records()
    context = LambdaContext()
    template = api_gateway_event("POST", "/v1/predict", records[0])
    # When each is posted to /v1/predict (one request per row, as v1 consumers do)
    served = np.empty(len(records))
    decisions = np.empty(len(records), dtype=bool)
    for i, record in enumerate(records):
        event: dict[str, Any] = {**template, "body": json.dumps(record)}
        body = json.loads(handler(event, context)["body"])
        served[i] = body["probability"]
        decisions[i] = body["prediction"] == "yes"
    # Then every probability is within 1e-6 and every decision is identical
    with capsys.disabled():
        print("\n" + report("v1", served, expected, rows))
    assert np.max(np.abs(served - expected)) <= TOLERANCE, report("v1", served, expected, rows)
    assert np.array_equal(decisions, expected_yes)

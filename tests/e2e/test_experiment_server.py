"""The local server over real HTTP follows an experiment: picks up a start, splits customers, and
sends everyone back to the champion when ``propensity experiment stop`` runs."""

from __future__ import annotations

import time

import httpx

from propensity.cli import main as cli
from propensity.constants import EXPERIMENT_ARM_HEADER
from tests.e2e.test_local_server import archived_events, server  # noqa: F401 (the fixture)
from tests.service_support import v2_body
from tests.unit.experiments.conftest import record_passing_gate, register_copy


def _wait_for(client: httpx.Client, ref: str, present: bool, seconds: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = client.post("/v2/predict", json=v2_body(customer_ref=ref))
        assert response.status_code == 200, response.text
        if (EXPERIMENT_ARM_HEADER in response.headers) == present or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_the_local_server_follows_start_and_stop(server, registry, tmp_path):  # noqa: F811
    url, archive, _ = server
    challenger = register_copy(registry, tmp_path, "served")
    record_passing_gate(registry, challenger)
    location = registry.store.location
    start = ["experiment", "start", "--api", "v2", "--registry", location, "--challenger", challenger]
    assert cli([*start, "--share", "0.5", "--planned-customers", "2000", "--reason", "e2e"]) == 0
    with httpx.Client(base_url=url, timeout=10) as client:
        first = _wait_for(client, "e2e-customer-0", present=True)
        assert first.headers[EXPERIMENT_ARM_HEADER] in {"champion", "challenger"}
        arms = {}
        for i in range(40):
            response = client.post("/v2/predict", json=v2_body(customer_ref=f"e2e-customer-{i}"))
            again = client.post("/v2/predict", json=v2_body(customer_ref=f"e2e-customer-{i}"))
            assert response.headers[EXPERIMENT_ARM_HEADER] == again.headers[EXPERIMENT_ARM_HEADER]
            arms[response.json()["prediction_id"]] = response.headers[EXPERIMENT_ARM_HEADER]
        assert set(arms.values()) == {"champion", "challenger"}
        assert cli(["experiment", "stop", "--api", "v2", "--registry", location, "--reason", "e2e done"]) == 0
        stopped_at = time.monotonic()
        after = _wait_for(client, "e2e-customer-1", present=False)
        assert EXPERIMENT_ARM_HEADER not in after.headers
        assert time.monotonic() - stopped_at < 5  # within the 2 s poll, plus this machine's load
        assert after.json()["model_version"] == registry.alias("v2", "champion")
    events = {e.prediction_id: e for e in archived_events(archive)}
    for prediction_id, arm in arms.items():
        assert events[prediction_id].arm == arm and events[prediction_id].experiment == "v2-exp0000"

"""The v2 serving hook: both models loaded, the arm in the header and in the PredictionEvent."""

from __future__ import annotations

import time
import warnings

from propensity.archive.reader import iter_window_events
from propensity.archive.store import LocalArchiveStore
from propensity.constants import EXPERIMENT_ARM_HEADER
from propensity.experiments import lifecycle
from propensity.experiments.assignment import FALLBACK_WARNING, assign
from propensity.service.app import create_app
from propensity.service.settings import ServiceSettings
from propensity.service.v2.models import EXAMPLE_REQUEST
from tests.unit.experiments.synthetic import make_record

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

POLL_WAIT_S = 2.5  # ExperimentServing polls the registry at most every 2 s


def _start(registry, challenger, share=0.5):
    record = make_record(share=share)
    return lifecycle.start(
        registry,
        "v2",
        challenger=challenger,
        challenger_share=share,
        planned_customers=record.planned_customers,
        design=record.design,
        reason="hook test",
        actor="pytest",
    )


def _client(registry, bundles, tmp_path):
    settings = ServiceSettings(
        api_versions=("v2",),
        model_dir_v2=bundles["v2"].path,
        archive_dir=tmp_path / "archive",
        metrics_flush="off",
        events_to_stdout=False,
        experiment_registry=registry.store.location,
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


def _events(tmp_path):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    store = LocalArchiveStore(tmp_path / "archive")
    return {
        e.prediction_id: e
        for e in iter_window_events(store, now - timedelta(hours=2), now + timedelta(hours=2))
    }


def _body(ref):
    return (
        {**EXAMPLE_REQUEST, "customer_ref": ref}
        if ref
        else {k: v for k, v in EXAMPLE_REQUEST.items() if k != "customer_ref"}
    )


def test_the_assigned_arm_answers_sticks_and_is_recorded(ab_registry, bundles, tmp_path):
    registry, champion, challenger = ab_registry
    record = _start(registry, challenger)
    client = _client(registry, bundles, tmp_path)
    seen = {}
    for i in range(30):
        ref = f"customer-{i}"
        expected = assign(record.salt, 0.5, ref, "unused").arm
        for _ in range(2):  # sticky: the same customer gets the same arm every time
            response = client.post("/v2/predict", json=_body(ref))
            assert response.status_code == 200, response.text
            assert response.headers[EXPERIMENT_ARM_HEADER] == expected
            body = response.json()
            assert body["model_version"] == (challenger if expected == "challenger" else champion)
            seen[body["prediction_id"]] = expected
    assert set(seen.values()) == {"champion", "challenger"}
    events = _events(tmp_path)
    for prediction_id, arm in seen.items():
        event = events[prediction_id]
        assert event.experiment == record.experiment_id and event.arm == arm
        assert event.model_version == (challenger if arm == "challenger" else champion)
        assert FALLBACK_WARNING not in event.warnings


def test_without_customer_ref_the_request_id_decides_and_the_answer_says_so(ab_registry, bundles, tmp_path):
    registry, _, challenger = ab_registry
    _start(registry, challenger)
    client = _client(registry, bundles, tmp_path)
    response = client.post("/v2/predict", json=_body(None), headers={"x-request-id": "req-42"})
    assert response.status_code == 200
    assert FALLBACK_WARNING in response.json()["warnings"]
    assert response.headers[EXPERIMENT_ARM_HEADER] in {"champion", "challenger"}
    event = _events(tmp_path)[response.json()["prediction_id"]]
    assert FALLBACK_WARNING in event.warnings and event.arm == response.headers[EXPERIMENT_ARM_HEADER]


def test_a_batch_is_split_by_customer_and_each_result_names_its_arm(ab_registry, bundles, tmp_path):
    registry, champion, challenger = ab_registry
    record = _start(registry, challenger)
    client = _client(registry, bundles, tmp_path)
    records = [_body(f"batch-customer-{i}") for i in range(40)]
    records[3] = {**records[3], "customer": {**records[3]["customer"], "age": "old"}}  # one invalid record
    response = client.post("/v2/predict/batch", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scored"] == 39 and "errors" in body["results"][3]
    assert response.headers[EXPERIMENT_ARM_HEADER] == "challenger,champion"
    events = _events(tmp_path)
    for i, result in enumerate(body["results"]):
        if i == 3:
            continue
        arm = assign(record.salt, 0.5, f"batch-customer-{i}", "unused").arm
        assert result["arm"] == arm
        assert result["model_version"] == (challenger if arm == "challenger" else champion)
        event = events[result["prediction_id"]]
        assert (event.arm, event.model_version, event.batch_size) == (arm, result["model_version"], 40)


def test_stop_sends_everyone_back_to_the_champion_and_a_new_start_is_picked_up(
    ab_registry, bundles, tmp_path
):
    registry, champion, challenger = ab_registry
    client = _client(registry, bundles, tmp_path)
    response = client.post("/v2/predict", json=_body("customer-1"))
    assert EXPERIMENT_ARM_HEADER not in response.headers  # no experiment: the answer is unchanged
    assert response.json()["model_version"] == champion
    _start(registry, challenger, share=0.999)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # loaded off the request path after the next poll
        response = client.post("/v2/predict", json=_body("customer-1"))
        if EXPERIMENT_ARM_HEADER in response.headers:
            break
        time.sleep(0.3)
    assert response.headers[EXPERIMENT_ARM_HEADER] == "challenger"
    lifecycle.stop(registry, "v2", reason="hook test", actor="pytest")
    time.sleep(POLL_WAIT_S)
    for i in range(10):
        response = client.post("/v2/predict", json=_body(f"customer-{i}"))
        assert EXPERIMENT_ARM_HEADER not in response.headers
        assert response.json()["model_version"] == champion
        assert _events(tmp_path)[response.json()["prediction_id"]].arm is None


def test_a_deployment_of_another_champion_does_not_serve_the_experiment(ab_registry, bundles, tmp_path):
    # The challenger was promoted and deployed during the experiment: the runtime's champion is no
    # longer the experiment's, so the arms are not the pre-registered ones and nobody is split.
    registry, _, challenger = ab_registry
    _start(registry, challenger, share=0.2)
    promoted = registry.load("v2", challenger, tmp_path / "cache")
    settings = ServiceSettings(
        api_versions=("v2",),
        model_dir_v2=promoted.path,
        archive_dir=tmp_path / "archive",
        metrics_flush="off",
        events_to_stdout=False,
        experiment_registry=registry.store.location,
    )
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    for i in range(5):
        response = client.post("/v2/predict", json=_body(f"customer-{i}"))
        assert response.status_code == 200 and EXPERIMENT_ARM_HEADER not in response.headers
        assert response.json()["model_version"] == challenger


def test_the_lambda_path_serves_the_experiment_from_its_environment(ab_registry, bundles, tmp_path, capsys):
    # Given a Lambda configured as the infrastructure configures it, plus EXPERIMENT_REGISTRY
    import json

    from propensity.events import PredictionEvent
    from propensity.service.lambda_api import create_lambda_api
    from tests.events import LambdaContext, api_gateway_event

    registry, champion, challenger = ab_registry
    record = _start(registry, challenger)
    settings = ServiceSettings.from_env(
        {
            "API_VERSIONS": "v2",
            "MODEL_DIR_V2": str(bundles["v2"].path),
            "V1_DEPRECATION_DATE": "2026-01-01",
            "V1_SUNSET_DATE": "2027-01-01",
            "METRICS_FLUSH": "off",
            "EXPERIMENT_REGISTRY": str(registry.store.location),
        }
    )
    handler = create_lambda_api(settings)
    refs = [f"lambda-customer-{i}" for i in range(30)]
    expected = {ref: assign(record.salt, 0.5, ref, "unused").arm for ref in refs}
    capsys.readouterr()
    # When one customer asks alone and all of them in one batch
    single = handler(api_gateway_event("POST", "/v2/predict", _body(refs[0])), LambdaContext())
    batch = handler(
        api_gateway_event("POST", "/v2/predict/batch", {"records": [_body(r) for r in refs]}),
        LambdaContext(),
    )
    # Then the arm picks the model on both routes, and says so in the header and the events
    assert single["statusCode"] == 200 and batch["statusCode"] == 200, batch["body"]
    assert single["headers"][EXPERIMENT_ARM_HEADER.lower()] == expected[refs[0]]
    assert batch["headers"][EXPERIMENT_ARM_HEADER.lower()] == "challenger,champion"
    results = json.loads(batch["body"])["results"]
    assert [r["arm"] for r in results] == [expected[r] for r in refs]
    versions = {"champion": champion, "challenger": challenger}
    assert [r["model_version"] for r in results] == [versions[expected[r]] for r in refs]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    events = [PredictionEvent.model_validate(e) for e in lines if e.get("event") == "PredictionEvent"]
    assert len(events) == 1 + len(refs)
    for event in events:
        assert event.experiment == record.experiment_id
        assert event.arm == expected[event.customer_ref]
        assert event.model_version == versions[event.arm]


def test_an_experiment_registry_that_cannot_be_opened_leaves_the_champion_serving(bundles, monkeypatch):
    # Given a registry client that fails to open (a bad location, no credentials)
    from propensity.experiments.serving import ExperimentServing
    from propensity.service.api import build_service
    from propensity.service.core.http import Incoming

    def refuse(*_args, **_kwargs):
        raise OSError("no route to the registry")

    monkeypatch.setattr(ExperimentServing, "from_location", refuse)
    settings = ServiceSettings(
        api_versions=("v2",),
        model_dir_v2=bundles["v2"].path,
        metrics_flush="off",
        events_to_stdout=False,
        experiment_registry="s3://unreachable-bucket/registry",
    )
    # When the service is built (a Lambda init) and asked for a prediction
    service = build_service(settings)
    import json

    route = next(r for r in service.routes if r.path == "/v2/predict")
    answer = route.handle(
        Incoming(
            "POST", "/v2/predict", {"content-type": "application/json"}, json.dumps(_body("c-1")).encode()
        )
    )
    # Then the init survived and the champion answers, without an arm
    assert answer.status == 200 and EXPERIMENT_ARM_HEADER not in answer.headers
    assert json.loads(answer.body)["model_version"] == bundles["v2"].version

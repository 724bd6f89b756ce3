"""The synthetic probe against the real service on 127.0.0.1, and against stand-ins that fail
in each way a deployed API can: 5xx, a wrong schema, drifted answers, slowness, timeouts."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, date, datetime

import boto3
import pytest
import uvicorn
from moto import mock_aws

from propensity.alerting.secrets import StaticSecretStore
from propensity.bundle.golden import GoldenCase, GoldenSet
from propensity.observability import metrics
from propensity.probe.golden import golden_file_name, load_golden_sets
from propensity.probe.publish import probe_once
from propensity.probe.runner import run_probe
from propensity.probe.settings import ProbeSettings
from propensity.service.app import create_app
from propensity.service.settings import ServiceSettings
from tests.events import LambdaContext, scheduled_event
from tests.integration.stand_in import Reply, load_handler, serve

V1_HEADERS = {
    "Deprecation": "@1788220800",
    "Sunset": "Wed, 30 Jun 2027 00:00:00 GMT",
    "Link": '</v2/predict>; rel="successor-version"',
    "X-API-Deprecation": "v1 deprecated on 2026-09-01",
}
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def case(name, age, probability, decision, confidence):
    return GoldenCase(
        name=name,
        request={"age": age, "job": "technician"},
        probability=probability,
        decision=decision,
        confidence=confidence,
    )


GOLDENS = {
    "v1": GoldenSet(
        api_version="v1",
        model_version="v1-golden",
        cases=[
            case("a", 30, 0.05, "no", "high"),
            case("b", 40, 0.31, "yes", "low"),
            case("c", 50, 0.82, "yes", "high"),
        ],
    ),
    "v2": GoldenSet(
        api_version="v2",
        model_version="v2-golden",
        cases=[
            case("d", 31, 0.07, "no", "high"),
            case("e", 41, 0.27, "no", "low"),
            case("f", 51, 0.91, "yes", "high"),
        ],
    ),
}


def settings(url, **overrides):
    return ProbeSettings.model_validate(
        {"api_url": url, "cases_per_run": 3, "timeout_s": 2.0, "latency_budget_ms": 1000.0, **overrides}
    )


def healthy_api(*, shift=0.0, v2_version="v2-golden", v1_body=None, v2_body=None, delay_s=0.0):
    """A responder that answers like a correct deployment (each knob breaks one thing)."""
    by_body = {api: {json.dumps(c.request, sort_keys=True): c for c in g.cases} for api, g in GOLDENS.items()}

    def respond(request):
        path = request.path.removeprefix("/prod")  # the API Gateway stage, when the URL has one
        if path == "/health":
            return Reply(200, {"status": "ok", "api_versions": ["v2"], "models": {"v2": v2_version}}, delay_s)
        api = path.split("/")[1]
        golden = by_body[api][json.dumps(request.json(), sort_keys=True)]
        probability = golden.probability + shift
        if api == "v1":
            body = v1_body or {
                "prediction": golden.decision,
                "probability": probability,
                "confidence": golden.confidence,
            }
            return Reply(200, body, delay_s, headers=V1_HEADERS)
        body = v2_body or {
            "prediction_id": "0f8c2a",
            "model_version": v2_version,
            "probability": probability,
            "decision": golden.decision,
            "threshold": 0.3,
            "confidence": golden.confidence,
            "warnings": [],
        }
        return Reply(200, body, delay_s)

    return respond


@pytest.fixture
def api():
    with serve(Reply(404, {"detail": "Not Found"})) as server:
        yield server


# Against the real service ----------------------------------------------------------------------


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def local_server(bundles, tmp_path):
    service = ServiceSettings(
        api_versions=("v1", "v2"),
        model_dir_v1=bundles["v1"].path,
        model_dir_v2=bundles["v2"].path,
        v1_deprecation_date=date(2026, 9, 1),
        v1_sunset_date=date(2027, 6, 30),
        archive_dir=tmp_path / "archive",
        metrics_flush="off",
        events_to_stdout=False,
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.realdata
def test_probe_passes_against_the_local_server_on_every_golden_case(local_server, bundles):
    # Given the real service serving the trained bundles, and the probe with their golden sets
    goldens = {api: bundle.golden for api, bundle in bundles.items()}
    probe = settings(local_server, cases_per_run=len(goldens["v1"].cases))

    # When the probe runs once over every golden case
    report = run_probe(probe, goldens, api_key=None, now=NOW)

    # Then every check passed, each answer compared with its golden output
    assert report.failures() == []
    assert report.ok
    checks = report.checks()
    assert len(checks["health"]) == 1
    assert len(checks["v1"]) == len(goldens["v1"].cases) and len(checks["v2"]) == len(goldens["v2"].cases)
    assert all(r.golden_compared for r in checks["v1"] + checks["v2"])
    assert {r.served_model_version for r in checks["v2"]} == {goldens["v2"].model_version}


# Against stand-ins ----------------------------------------------------------------------------


def test_a_correct_api_passes_and_the_handler_publishes_success(api, tmp_path, monkeypatch, capsys):
    # Given a correct API behind an API key kept in Secrets Manager, and the deployed golden files
    api.responder = healthy_api()
    for name, golden in GOLDENS.items():
        (tmp_path / golden_file_name(name)).write_text(golden.model_dump_json())
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "PROBE_API_URL": api.url + "/prod/",
        "PROBE_API_KEY_SECRET": "propensity/probe-api-key",
        "PROBE_GOLDEN_DIR": str(tmp_path),
        "POWERTOOLS_SERVICE_NAME": "propensity-test-probe",
        "POWERTOOLS_METRICS_NAMESPACE": "Propensity",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Powertools reads POWERTOOLS_SERVICE_NAME when observability is first imported (a Lambda
    # cold start); this test process imported it long ago.
    monkeypatch.setattr(metrics, "service", env["POWERTOOLS_SERVICE_NAME"])
    with mock_aws():
        boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="propensity/probe-api-key", SecretString="PROBEKEY0123456789abcdefghij"
        )
        handler = load_handler("probe")
        capsys.readouterr()

        # When the scheduled probe runs
        result = handler.lambda_handler(scheduled_event(NOW, rule="propensity-test-probe"), LambdaContext())
    metrics.clear_metrics()

    # Then it passed, every request carried the probe's key and went under the stage path
    assert result == {"ok": True, "runs": 1, "requests": 7, "failures": []}
    assert {r.headers.get("x-api-key") for r in api.requests} == {"PROBEKEY0123456789abcdefghij"}
    # And every request carries the synthetic header, so its events stay out of drift and evaluation
    assert {r.headers.get("x-propensity-synthetic") for r in api.requests} == {"probe"}
    assert sorted({r.path for r in api.requests}) == ["/prod/health", "/prod/v1/predict", "/prod/v2/predict"]
    # And the metrics the alarm and the dashboard read were published as EMF
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    run = next(d for d in documents if "ProbeSuccess" in d)
    assert run["ProbeSuccess"] == [1.0] and run["ProbeRequests"] == [7.0]
    assert run["service"] == "propensity-test-probe"
    per_check = {
        (d["check"], name): d[name]
        for d in documents
        if "check" in d
        for name in ("ProbeCheckSuccess", "ProbeLatency")
        if name in d
    }
    assert {k: v for k, v in per_check.items() if k[1] == "ProbeCheckSuccess"} == {
        ("health", "ProbeCheckSuccess"): [1.0],
        ("v1", "ProbeCheckSuccess"): [1.0],
        ("v2", "ProbeCheckSuccess"): [1.0],
    }
    assert all(per_check[(c, "ProbeLatency")][0] > 0 for c in ("health", "v1", "v2"))


def test_server_errors_fail_the_probe_and_publish_failure(api, capsys):
    # Given an API whose model failed to load: /health 503, predictions 503
    api.route(
        "GET",
        "/health",
        Reply(
            503,
            {
                "status": "unavailable",
                "reason": "bundle missing",
                "api_versions": ["v2"],
                "models": {"v2": None},
            },
        ),
    )
    api.default = Reply(503, {"detail": "model unavailable"})

    # When the probe runs and publishes
    report = probe_once(settings(api.url), GOLDENS, StaticSecretStore({}), now=NOW)
    emf = capsys.readouterr().out
    metrics.clear_metrics()

    # Then every check failed, saying why
    assert not report.ok and len(report.failures()) == 7
    health = report.checks()["health"][0]
    assert health.status == 503 and "'unavailable'" in health.problems[0]
    assert all(r.problems == ["HTTP 503: {'detail': 'model unavailable'}"] for r in report.results[1:])
    assert '"ProbeCheckSuccess":[0.0]' in emf.replace(" ", "")


def test_a_wrong_schema_fails_the_probe(api):
    # Given v1 answering without `confidence` and without its deprecation headers, v2 with a string probability
    respond = healthy_api(
        v2_body={
            "prediction_id": "x",
            "model_version": "v2-golden",
            "probability": "0.1",
            "decision": "no",
            "threshold": 0.3,
            "confidence": "high",
            "warnings": [],
        }
    )

    def broken(request):
        reply = respond(request)
        if request.path.endswith("/v1/predict"):
            body = json.loads(reply.payload())
            body.pop("confidence")
            return Reply(200, body)
        return reply

    api.responder = broken

    # When the probe runs
    report = run_probe(settings(api.url), GOLDENS, api_key=None, now=NOW)

    # Then both versions fail on their schema, naming what is wrong
    v1, v2 = report.checks()["v1"][0], report.checks()["v2"][0]
    assert not v1.ok and any("confidence: Field required" in p for p in v1.problems)
    assert any("deprecation header Deprecation is missing" in p for p in v1.problems)
    assert not v2.ok and v2.problems == ["v2 response: probability: Input should be a valid number"]
    assert report.checks()["health"][0].ok


def test_a_drifted_probability_fails_the_probe(api):
    # Given an API whose answers moved 0.01 away from the golden outputs (same model version)
    api.responder = healthy_api(shift=0.01)

    # When the probe runs
    report = run_probe(settings(api.url), GOLDENS, api_key=None, now=NOW)

    # Then every prediction check fails on the golden comparison, with expected and actual values
    predictions = report.checks()["v1"] + report.checks()["v2"]
    assert all(not r.ok and r.golden_compared for r in predictions)
    assert any(
        "probability 0.060000, expected 0.050000 (tolerance 0.0001)" in p for p in predictions[0].problems
    )


def test_a_tiny_float_difference_is_within_tolerance(api):
    api.responder = healthy_api(shift=5e-5)
    assert run_probe(settings(api.url), GOLDENS, api_key=None, now=NOW).ok


def test_slow_answers_fail_the_probe(api):
    # Given an API that answers correctly but takes 0.4 s, against a 200 ms budget
    api.responder = healthy_api(delay_s=0.4)

    # When the probe runs
    report = run_probe(settings(api.url, latency_budget_ms=200.0), GOLDENS, api_key=None, now=NOW)

    # Then every check fails on latency only
    assert not report.ok
    for result in report.results:
        assert result.latency_ms >= 400
        assert len(result.problems) == 1 and result.problems[0].endswith("the budget is 200 ms")


def test_a_hanging_api_fails_on_timeout(api):
    # Given an API that takes longer to answer than the probe waits
    api.responder = healthy_api(delay_s=1.5)

    # When the probe runs with a 0.3 s timeout
    report = run_probe(settings(api.url, timeout_s=0.3), GOLDENS, api_key=None, now=NOW)

    # Then each check reports the timeout
    assert not report.ok
    assert all("timed out after 0.3 s" in r.problems[0] for r in report.results)


def test_a_canary_model_is_judged_on_its_contract_not_the_golden_set(api):
    # Given v2 answering from another model version (a canary) with different probabilities
    api.responder = healthy_api(shift=0.05, v2_version="v2-canary")

    # When the probe runs
    report = run_probe(settings(api.url, apis=("v2",)), GOLDENS, api_key=None, now=NOW)

    # Then it passes on the contract, and says the golden comparison was skipped
    assert report.ok
    assert all(not r.golden_compared and r.served_model_version == "v2-canary" for r in report.checks()["v2"])


def test_an_unreadable_api_key_is_one_clear_failure(api):
    # Given a probe whose key secret cannot be read
    probe = settings(api.url, api_key_secret="propensity/missing")

    # When it runs
    report = probe_once(probe, GOLDENS, StaticSecretStore({}), now=NOW)
    metrics.clear_metrics()

    # Then nothing was sent and the report names the cause
    assert api.requests == []
    assert [r.problems for r in report.results] == [["secret 'propensity/missing' is not set"]]


def test_golden_files_are_checked_at_cold_start(tmp_path):
    (tmp_path / golden_file_name("v1")).write_text(GOLDENS["v2"].model_dump_json())
    with pytest.raises(Exception, match="not v1 ones"):
        load_golden_sets(tmp_path, ("v1",))
    with pytest.raises(Exception, match="missing"):
        load_golden_sets(tmp_path, ("v2",))


@pytest.mark.realdata
def test_probe_command_reports_each_check_against_the_local_server(local_server, registry, capsys):
    # Given the local server and a registry whose champions are the served bundles
    from propensity.cli import main

    # When an operator runs the probe from a terminal
    code = main(["probe", "--url", local_server, "--registry", str(registry.store.location), "--cases", "2"])

    # Then every check is listed and passed
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("ok   v1") == 2 and out.count("ok   v2") == 2 and "ok   health" in out
    assert out.rstrip().endswith("5 requests, 0 failed")


@pytest.mark.realdata
def test_probe_command_fails_when_the_api_does(api, registry, capsys):
    # Given an API answering 500 to everything
    from propensity.cli import main

    api.default = Reply(500, {"detail": "boom"})

    # When the probe command runs / Then it exits non-zero and says what failed
    assert main(["probe", "--url", api.url, "--registry", str(registry.store.location), "--cases", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL health" in out and "3 requests, 3 failed" in out

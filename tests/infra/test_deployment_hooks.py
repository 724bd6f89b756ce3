"""The CodeDeploy hooks, as shipped, against botocore Stubbers for CodeDeploy and Lambda.

The "good version" answers are produced by the real prediction handler (functions/predict)
serving the real bundle, called with the very events the hook sends; the bad versions are
those answers with the contract broken or the outputs drifted.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import io
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from infra import packaging
from propensity.bundle.golden import GoldenSet
from propensity.bundle.manifest import GOLDEN_FILE
from propensity.deployment.requests import proxy_event
from tests.events import LambdaContext, codedeploy_hook_event

# The real handler answers /health without publishing metrics; Powertools warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

DEPRECATION, SUNSET = date(2026, 9, 1), date(2027, 6, 30)
FUNCTION = "propensity-prod-predict-{api}"
TARGET_VERSION, CURRENT_VERSION = "8", "7"


def _import(path: Path, name: str) -> ModuleType:
    """Import a handler file the way Lambda does (its folder first on sys.path), under ``name``."""
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


@pytest.fixture(scope="module")
def prediction_handlers(trained) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """The real prediction handler per API version, serving the session's bundles."""
    handlers = {}
    with pytest.MonkeyPatch.context() as env:
        for api in ("v1", "v2"):
            env.setenv("API_VERSIONS", api)
            env.setenv(f"MODEL_DIR_{api.upper()}", str(trained[api].bundle_path))
            env.setenv("V1_DEPRECATION_DATE", DEPRECATION.isoformat())
            env.setenv("V1_SUNSET_DATE", SUNSET.isoformat())
            env.setenv("POWERTOOLS_METRICS_NAMESPACE", "PropensityTest")
            module = _import(
                packaging.FUNCTIONS_DIR / "predict" / "predict_handler.py", f"predict_for_hooks_{api}"
            )
            handlers[api] = lambda event, m=module: m.lambda_handler(event, LambdaContext())
            env.delenv(f"MODEL_DIR_{api.upper()}")
    return handlers


def load_hook(kind: str, api: str, bundle: Path, monkeypatch) -> ModuleType:
    """The hook handler from the asset ``cdk synth`` ships (handler + the bundle's golden.json)."""
    golden = GoldenSet.model_validate_json((bundle / GOLDEN_FILE).read_bytes())
    code = packaging.bundled_code_dir(
        kind, {GOLDEN_FILE: bundle / GOLDEN_FILE}, f"{api}-{golden.model_version}"
    )
    for name, value in {
        "API_VERSION": api,
        "TARGET_FUNCTION_NAME": FUNCTION.format(api=api),
        "EXPECTED_MODEL_VERSION": golden.model_version,
        "V1_DEPRECATION_DATE": DEPRECATION.isoformat(),
        "V1_SUNSET_DATE": SUNSET.isoformat(),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    return _import(code / f"{kind}_handler.py", f"{kind}_{api}_under_test")


def app_spec(api: str) -> str:
    name = FUNCTION.format(api=api)
    return json.dumps(
        {
            "version": 0.0,
            "Resources": [
                {
                    name: {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "Name": name,
                            "Alias": "live",
                            "CurrentVersion": CURRENT_VERSION,
                            "TargetVersion": TARGET_VERSION,
                        },
                    }
                }
            ],
        }
    )


def deployment_response(api: str, deployment_id: str) -> dict[str, Any]:
    content = app_spec(api)
    return {
        "deploymentInfo": {
            "applicationName": f"propensity-prod-predict-{api}",
            "deploymentGroupName": f"propensity-prod-predict-{api}-live",
            "deploymentId": deployment_id,
            "status": "InProgress",
            "computePlatform": "Lambda",
            "revision": {
                "revisionType": "AppSpecContent",
                "appSpecContent": {
                    "content": content,
                    "sha256": hashlib.sha256(content.encode()).hexdigest(),
                },
            },
        }
    }


def invoke_response(payload: dict[str, Any], function_error: str | None = None) -> dict[str, Any]:
    data = json.dumps(payload).encode()
    response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(data), len(data))}
    if function_error:
        response["FunctionError"] = function_error
    return response


def hook_requests(api: str, golden: GoldenSet, post: bool = False) -> list[dict[str, Any]]:
    """The requests the hook will send, in order: /health, then the golden predictions."""
    cases = golden.cases[:1] if post else golden.cases
    return [proxy_event("GET", "/health")] + [
        proxy_event("POST", f"/{api}/predict", c.request) for c in cases
    ]


class Deployment:
    """Stubbed CodeDeploy and Lambda clients of one hook, and the verdict it must report."""

    def __init__(self, module: ModuleType, api: str, qualifier: str) -> None:
        self.module, self.api, self.qualifier = module, api, qualifier
        self.event = codedeploy_hook_event()
        self.codedeploy = Stubber(module.DEPLOYMENTS.client)
        self.lambda_ = Stubber(module.INVOKER.client)

    def expect(self, answers: list[dict[str, Any] | tuple[dict[str, Any], str]], verdict: str) -> None:
        deployment_id = self.event["DeploymentId"]
        self.codedeploy.add_response(
            "get_deployment", deployment_response(self.api, deployment_id), {"deploymentId": deployment_id}
        )
        for answer in answers:
            payload, error = answer if isinstance(answer, tuple) else (answer, None)
            self.lambda_.add_response(
                "invoke",
                invoke_response(payload, error),
                {
                    "FunctionName": FUNCTION.format(api=self.api),
                    "Qualifier": self.qualifier,
                    "InvocationType": "RequestResponse",
                    "Payload": ANY,
                },
            )
        self.codedeploy.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": self.event["LifecycleEventHookExecutionId"]},
            {
                "deploymentId": deployment_id,
                "lifecycleEventHookExecutionId": self.event["LifecycleEventHookExecutionId"],
                "status": verdict,
            },
        )

    def run(self) -> dict[str, Any]:
        with self.codedeploy, self.lambda_:
            result = self.module.lambda_handler(self.event, LambdaContext(function_name="pretraffic"))
            self.codedeploy.assert_no_pending_responses()
            self.lambda_.assert_no_pending_responses()
        return dict(result)


def good_answers(handler, api: str, golden: GoldenSet, post: bool = False) -> list[dict[str, Any]]:
    return [handler(event) for event in hook_requests(api, golden, post)]


def body_of(answer: dict[str, Any]) -> dict[str, Any]:
    return json.loads(answer["body"])


def with_body(answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(answer)
    changed["body"] = json.dumps(body)
    return changed


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_pre_traffic_succeeds_for_a_version_that_answers_the_golden_requests(
    api, trained, prediction_handlers, monkeypatch
):
    # Given the hook of a deployment whose new version is the real service on the real bundle
    bundle = trained[api].bundle_path
    hook = load_hook("pretraffic", api, bundle, monkeypatch)
    golden = hook.GOLDEN
    deployment = Deployment(hook, api, qualifier=TARGET_VERSION)
    deployment.expect(good_answers(prediction_handlers[api], api, golden), verdict="Succeeded")
    # When CodeDeploy runs BeforeAllowTraffic
    result = deployment.run()
    # Then every golden request was replayed on the NEW version and CodeDeploy heard "Succeeded"
    assert result["status"] == "Succeeded", result["problems"]
    assert result["checked"] == len(golden.cases) + 1


def test_pre_traffic_fails_a_version_whose_outputs_drift(trained, prediction_handlers, monkeypatch):
    # Given a new version whose probability for one golden request moved by 0.01
    hook = load_hook("pretraffic", "v1", trained["v1"].bundle_path, monkeypatch)
    answers = good_answers(prediction_handlers["v1"], "v1", hook.GOLDEN)
    drifted = body_of(answers[3])
    drifted["probability"] = min(1.0, drifted["probability"] + 0.01)
    answers[3] = with_body(answers[3], drifted)
    deployment = Deployment(hook, "v1", qualifier=TARGET_VERSION)
    deployment.expect(answers, verdict="Failed")
    # When the hook runs
    result = deployment.run()
    # Then CodeDeploy hears "Failed", and the reason names the case and the expected value
    assert result["status"] == "Failed"
    assert len(result["problems"]) == 1
    assert hook.GOLDEN.cases[2].name in result["problems"][0]
    assert "expected" in result["problems"][0]


def test_pre_traffic_fails_a_version_that_breaks_the_v1_contract(trained, prediction_handlers, monkeypatch):
    # Given a new version that renames a field and drops a deprecation header
    hook = load_hook("pretraffic", "v1", trained["v1"].bundle_path, monkeypatch)
    answers = good_answers(prediction_handlers["v1"], "v1", hook.GOLDEN)
    renamed = body_of(answers[1])
    renamed["score"] = renamed.pop("probability")
    answers[1] = with_body(answers[1], renamed)
    for header_set in ("headers", "multiValueHeaders"):
        for name in list(answers[2].get(header_set) or {}):
            if name.lower() == "sunset":
                del answers[2][header_set][name]
    deployment = Deployment(hook, "v1", qualifier=TARGET_VERSION)
    deployment.expect(answers, verdict="Failed")
    # When the hook runs
    result = deployment.run()
    # Then CodeDeploy hears "Failed" for both reasons
    assert result["status"] == "Failed"
    problems = " | ".join(result["problems"])
    assert "probability" in problems and "score" in problems
    assert "Sunset is missing" in problems


def test_pre_traffic_fails_a_v2_version_serving_another_model(trained, prediction_handlers, monkeypatch):
    # Given a v2 version that answers with a model version other than the one being deployed
    hook = load_hook("pretraffic", "v2", trained["v2"].bundle_path, monkeypatch)
    answers = good_answers(prediction_handlers["v2"], "v2", hook.GOLDEN)
    for index in range(1, len(answers)):
        body = body_of(answers[index])
        body["model_version"] = "v2-0000000000"
        answers[index] = with_body(answers[index], body)
    deployment = Deployment(hook, "v2", qualifier=TARGET_VERSION)
    deployment.expect(answers, verdict="Failed")
    # When the hook runs
    result = deployment.run()
    # Then it fails, naming the model version it found
    assert result["status"] == "Failed"
    assert "v2-0000000000" in result["problems"][0]


def test_pre_traffic_fails_a_version_that_crashes_or_is_unhealthy(trained, prediction_handlers, monkeypatch):
    # Given a new version whose /health says 503 and whose first prediction crashes the function
    hook = load_hook("pretraffic", "v1", trained["v1"].bundle_path, monkeypatch)
    answers: list[Any] = good_answers(prediction_handlers["v1"], "v1", hook.GOLDEN)
    answers[0] = with_body({**answers[0], "statusCode": 503}, {"status": "unavailable", "reason": "no model"})
    answers[1] = ({"errorMessage": "Task timed out after 10.00 seconds", "errorType": "Timeout"}, "Unhandled")
    deployment = Deployment(hook, "v1", qualifier=TARGET_VERSION)
    deployment.expect(answers, verdict="Failed")
    # When the hook runs
    result = deployment.run()
    # Then it fails for both
    assert result["status"] == "Failed"
    problems = " | ".join(result["problems"])
    assert "/health answered HTTP 503" in problems
    assert "Task timed out" in problems


def test_pre_traffic_reports_failed_when_it_cannot_read_the_deployment(trained, monkeypatch):
    # Given CodeDeploy refusing to describe the deployment
    hook = load_hook("pretraffic", "v1", trained["v1"].bundle_path, monkeypatch)
    deployment = Deployment(hook, "v1", qualifier=TARGET_VERSION)
    deployment.codedeploy.add_client_error("get_deployment", service_error_code="AccessDeniedException")
    deployment.codedeploy.add_response(
        "put_lifecycle_event_hook_execution_status",
        {"lifecycleEventHookExecutionId": deployment.event["LifecycleEventHookExecutionId"]},
        {
            "deploymentId": deployment.event["DeploymentId"],
            "lifecycleEventHookExecutionId": deployment.event["LifecycleEventHookExecutionId"],
            "status": "Failed",
        },
    )
    # When the hook runs
    result = deployment.run()
    # Then it still reports, and reports "Failed" (CodeDeploy never waits an hour for a verdict)
    assert result["status"] == "Failed"
    assert "AccessDeniedException" in result["problems"][0]


def test_post_traffic_smoke_tests_through_the_alias(trained, prediction_handlers, monkeypatch):
    # Given the AfterAllowTraffic hook, once the alias serves the new version
    hook = load_hook("posttraffic", "v2", trained["v2"].bundle_path, monkeypatch)
    deployment = Deployment(hook, "v2", qualifier="live")
    deployment.expect(
        good_answers(prediction_handlers["v2"], "v2", hook.GOLDEN, post=True), verdict="Succeeded"
    )
    # When it runs
    result = deployment.run()
    # Then /health and one golden prediction went through the alias, and it reported success
    assert result == {"status": "Succeeded", "checked": 2, "problems": []}


def test_hook_settings_refuse_a_v1_hook_without_deprecation_dates():
    # Given a v1 hook configured without the dates its headers are checked against
    from propensity.deployment.settings import HookSettings

    environment = {"API_VERSION": "v1", "TARGET_FUNCTION_NAME": "f", "EXPECTED_MODEL_VERSION": "v1-x"}
    # Then it refuses to start rather than check v1 answers loosely
    with pytest.raises(ValueError, match="V1_DEPRECATION_DATE"):
        HookSettings.from_env(environment)
    # And empty variables fall back to defaults (the tolerance comes from the golden set)
    settings = HookSettings.from_env({**environment, "API_VERSION": "v2", "PROBABILITY_TOLERANCE": ""})
    assert settings.tolerance(1e-6) == 1e-6


def test_app_spec_parsing_names_what_it_could_not_read():
    # Given the AppSpec CloudFormation writes, and a broken one
    from propensity.deployment.aws import parse_app_spec

    target = parse_app_spec(app_spec("v2"))
    # Then the move is read, and garbage is refused with a clear error
    assert (target.function_name, target.alias, target.target_version) == (
        FUNCTION.format(api="v2"),
        "live",
        "8",
    )
    with pytest.raises(ValueError, match="not a Lambda AppSpec"):
        parse_app_spec('{"version": 0.0, "Resources": []}')

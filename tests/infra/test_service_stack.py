"""The serving stack as CloudFormation will receive it: API, functions, aliases, canaries, hooks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.constructs.prediction import ALIAS_NAME, SERVER_ERRORS_METRIC
from propensity.constants import API_VERSIONS

SERVICE = "service"


def resources(app, kind: str, key: str = SERVICE) -> dict[str, dict[str, Any]]:
    return app.template(key).find_resources(kind)


def ref(app, token: Any, key: str = SERVICE) -> Any:
    """How a construct attribute appears in the template ({"Ref": ...} or {"Fn::GetAtt": ...})."""
    return app.stacks[key].resolve(token)


def method_paths(app) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every API method as ``"<HTTP method> <path>"`` -> (logical id, properties)."""
    parts = {
        logical_id: (r["Properties"]["PathPart"], r["Properties"]["ParentId"])
        for logical_id, r in resources(app, "AWS::ApiGateway::Resource").items()
    }

    def path_of(resource_id: Any) -> str:
        if "Ref" not in resource_id:  # the root resource (GetAtt RestApi.RootResourceId)
            return ""
        part, parent = parts[resource_id["Ref"]]
        return f"{path_of(parent)}/{part}"

    return {
        f"{m['Properties']['HttpMethod']} {path_of(m['Properties']['ResourceId']) or '/'}": (
            logical_id,
            m["Properties"],
        )
        for logical_id, m in resources(app, "AWS::ApiGateway::Method").items()
    }


# API ------------------------------------------------------------------------------------------


def test_routes_proxy_each_version_and_health_to_the_live_aliases(prod_app):
    # Given the prod service stack
    service = prod_app.stacks[SERVICE]
    # When its API methods are read by path
    methods = method_paths(prod_app)
    # Then /v1/*, /v2/* and /health exist, each proxying to the right alias (never to $LATEST)
    expected = {"ANY /v1/{proxy+}": "v1", "ANY /v2/{proxy+}": "v2", "GET /health": "v2"}
    assert set(methods) == set(expected)
    for route, api in expected.items():
        integration = methods[route][1]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        uri = json.dumps(integration["Uri"])
        assert json.dumps(ref(prod_app, service.aliases[api].function_arn)) in uri, route
        other = "v1" if api == "v2" else "v2"
        assert json.dumps(ref(prod_app, service.aliases[other].function_arn)) not in uri


def test_every_method_needs_an_api_key_and_cors_stays_closed(prod_app):
    # Given every method of the API
    methods = method_paths(prod_app)
    # Then each one requires an API key, none is an OPTIONS preflight
    assert all(props["ApiKeyRequired"] is True for _, props in methods.values())
    assert not [route for route in methods if route.startswith("OPTIONS")]
    # And no integration or gateway response adds Access-Control headers
    assert "Access-Control-Allow-Origin" not in json.dumps(prod_app.template(SERVICE).to_json())


def test_each_consumer_has_its_own_key_and_usage_plan(prod_app):
    # Given the consumers configured for prod
    consumers = prod_app.config.consumers
    assert len(consumers) >= 2
    template = prod_app.template(SERVICE)
    # Then each has an API key and a usage plan with its throttle and daily quota on the stage
    template.resource_count_is("AWS::ApiGateway::ApiKey", len(consumers))
    template.resource_count_is("AWS::ApiGateway::UsagePlanKey", len(consumers))
    for consumer in consumers:
        template.has_resource_properties(
            "AWS::ApiGateway::ApiKey", {"Name": f"propensity-prod-api-{consumer.name}", "Enabled": True}
        )
        template.has_resource_properties(
            "AWS::ApiGateway::UsagePlan",
            {
                "UsagePlanName": f"propensity-prod-api-{consumer.name}",
                "Throttle": {"RateLimit": consumer.rate_limit_rps, "BurstLimit": consumer.burst_limit},
                "Quota": {"Limit": consumer.quota_per_day, "Period": "DAY"},
                "ApiStages": [Match.object_like({"Stage": Match.any_value()})],
            },
        )


def test_stage_throttles_logs_json_and_traces(prod_app):
    # Given the API stage
    config = prod_app.config
    stages = resources(prod_app, "AWS::ApiGateway::Stage")
    assert len(stages) == 1
    stage = next(iter(stages.values()))["Properties"]
    # Then it throttles every method, logs errors (never bodies) and traces with X-Ray
    assert stage["StageName"] == "prod"
    assert stage["TracingEnabled"] is True
    settings = stage["MethodSettings"][0]
    assert settings["HttpMethod"] == "*" and settings["ResourcePath"] == "/*"
    assert settings["ThrottlingRateLimit"] == config.stage_throttle_rps
    assert settings["ThrottlingBurstLimit"] == config.stage_throttle_burst
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["DataTraceEnabled"] is False
    # And the access log is one JSON object per request naming the consumer by key id
    access_log = json.loads(stage["AccessLogSetting"]["Format"])
    assert access_log["apiKeyId"] == "$context.identity.apiKeyId"
    assert access_log["status"] == "$context.status"
    assert "$context.identity.apiKey" not in access_log.values()  # never the key itself


def test_api_allows_only_modern_tls_and_refuses_oversized_bodies_at_the_edge(prod_app):
    # Given the REST API and its web ACL
    template = prod_app.template(SERVICE)
    # Then TLS 1.2+ with forward secrecy is enforced, on a regional endpoint
    template.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {
            "SecurityPolicy": prod_app.config.api.security_policy,
            "EndpointAccessMode": "STRICT",
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
        },
    )
    assert "TLS13_1_2" in prod_app.config.api.security_policy
    # And a web ACL attached to the stage blocks bodies above the batch limit with a 413
    acl = next(iter(resources(prod_app, "AWS::WAFv2::WebACL").values()))["Properties"]
    size_rule = next(rule for rule in acl["Rules"] if rule["Name"] == "body-too-large")
    assert size_rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 413
    assert size_rule["Statement"]["RegexMatchStatement"]["FieldToMatch"] == {
        "SingleHeader": {"Name": "content-length"}
    }
    template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)


def test_request_validator_checks_parameters_and_leaves_bodies_to_the_service(prod_app):
    # Given the request validator every method uses
    template = prod_app.template(SERVICE)
    validators = resources(prod_app, "AWS::ApiGateway::RequestValidator")
    assert len(validators) == 1
    validator_id = next(iter(validators))
    # Then every method uses it, and no method declares a body model (the service answers 422
    # in the contract's shape, which an API Gateway model would replace with its own)
    for _, props in method_paths(prod_app).values():
        assert props["RequestValidatorId"] == {"Ref": validator_id}
        assert "RequestModels" not in props
    template.resource_count_is("AWS::ApiGateway::Model", 0)


# Prediction functions -------------------------------------------------------------------------


@pytest.mark.parametrize("api", API_VERSIONS)
def test_prediction_function_is_configured_from_the_stage(prod_app, api):
    # Given the prod configuration and the model pinned for this API version
    config, service = prod_app.config, prod_app.stacks[SERVICE]
    model_version = service.model_versions[api]
    # Then the function runs Python 3.12 on arm64, traced, sized and capped from config,
    # with SnapStart on published versions and the service's environment
    prod_app.template(SERVICE).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": f"propensity-prod-predict-{api}",
            "Handler": "predict_handler.lambda_handler",
            "Runtime": "python3.12",
            "Architectures": ["arm64"],
            "TracingConfig": {"Mode": "Active"},
            "MemorySize": config.prediction.memory_mb,
            "ReservedConcurrentExecutions": config.prediction.reserved_concurrency,
            "SnapStart": {"ApplyOn": "PublishedVersions"},
            "Layers": Match.array_with([ref(prod_app, service.runtime_layer.layer_version_arn)]),
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "API_VERSIONS": api,
                        f"MODEL_DIR_{api.upper()}": "model",
                        "MODEL_VERSION": model_version,
                        "V1_DEPRECATION_DATE": config.v1_deprecation_date.isoformat(),
                        "V1_SUNSET_DATE": config.v1_sunset_date.isoformat(),
                    }
                )
            },
        },
    )


@pytest.mark.parametrize("api", API_VERSIONS)
def test_function_version_is_described_by_its_model_version(prod_app, api):
    # Given the version CDK publishes for the function
    service = prod_app.stacks[SERVICE]
    version = service.predictions[api].version
    logical_id = ref(prod_app, version.function_arn)["Ref"]
    # Then its description is the model version (what the rollback command maps back), and it
    # is retained when replaced (rollback needs the old versions)
    resource = resources(prod_app, "AWS::Lambda::Version")[logical_id]
    assert resource["Properties"]["Description"] == service.model_versions[api]
    assert resource["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("api", API_VERSIONS)
def test_function_asset_is_handler_plus_the_pinned_bundle(prod_app, api):
    # Given the asset the function's code is built from
    service = prod_app.stacks[SERVICE]
    asset = service.predictions[api].function.node.find_child("Code")
    folder = Path(asset.asset_path)
    if not folder.is_absolute():
        folder = prod_app.template_file(SERVICE).parent / folder
    # Then it holds the handler and, as model/, exactly the pinned bundle
    assert (folder / "predict_handler.py").is_file()
    manifest = json.loads((folder / "model" / "manifest.json").read_text())
    assert manifest["model_version"] == service.model_versions[api]
    assert manifest["api_version"] == api
    # and its registration record, against which the function checks the manifest at load
    registration = json.loads((folder / "model" / "REGISTRATION.json").read_text())
    digest = hashlib.sha256((folder / "model" / "manifest.json").read_bytes()).hexdigest()
    assert registration["body"]["manifest_sha256"] == digest


def test_every_function_has_its_own_role_log_group_and_tracing(prod_app):
    # Given every function of every stack (CDK's inline helper functions aside)
    roles: list[str] = []
    for key in prod_app.stacks:
        template_resources = prod_app.template(key).to_json()["Resources"]
        for logical_id, function in resources(prod_app, "AWS::Lambda::Function", key).items():
            props = function["Properties"]
            if "ZipFile" in props.get("Code", {}):
                continue
            # Then each is traced, logs to an explicit log group with a retention, has its own role
            assert props.get("TracingConfig") == {"Mode": "Active"}, logical_id
            log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
            assert template_resources[log_group]["Properties"]["RetentionInDays"] > 0, logical_id
            roles.append(f"{key}:{props['Role']['Fn::GetAtt'][0]}")
    assert len(roles) >= 6
    assert len(roles) == len(set(roles)), "two functions share a role"


# Deployments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("api", API_VERSIONS)
def test_live_alias_is_shifted_by_codedeploy_with_both_hooks(prod_app, api):
    # Given the live alias and its deployment
    service = prod_app.stacks[SERVICE]
    prediction = service.predictions[api]
    alias_id = ref(prod_app, prediction.alias.function_arn)["Ref"]
    alias = resources(prod_app, "AWS::Lambda::Alias")[alias_id]
    # Then CodeDeploy moves it, with the pre- and post-traffic hooks of this API version
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["DeploymentGroupName"] == ref(prod_app, prediction.deployment_group.deployment_group_name)
    assert update["BeforeAllowTrafficHook"] == ref(
        prod_app, prediction.hooks.pre_traffic.function.function_name
    )
    assert update["AfterAllowTrafficHook"] == ref(
        prod_app, prediction.hooks.post_traffic.function.function_name
    )
    assert alias["Properties"]["Name"] == ALIAS_NAME
    assert alias["Properties"]["FunctionVersion"] == ref(prod_app, prediction.version.version)
    # And the alias waits for the rollback alarms (they watch the new version before traffic moves)
    alarm_ids = {ref(prod_app, alarm.alarm_arn)["Fn::GetAtt"][0] for alarm in prediction.alarms}
    assert alarm_ids <= set(alias["DependsOn"])


@pytest.mark.parametrize(
    ("app_fixture", "expected_config"),
    [
        ("prod_app", "CodeDeployDefault.LambdaCanary10Percent5Minutes"),
        ("dev_service", "CodeDeployDefault.LambdaAllAtOnce"),
    ],
)
def test_deployment_group_rolls_back_on_failure_and_alarms(request, app_fixture, expected_config):
    # Given a stage's deployment groups
    app = request.getfixturevalue(app_fixture)
    groups = resources(app, "AWS::CodeDeploy::DeploymentGroup")
    # Then there is one per API version: canary in prod, all at once in dev, rolling back on
    # failure, on a stop and on any of the three alarms of the new version
    assert len(groups) == len(API_VERSIONS)
    for api in API_VERSIONS:
        prediction = app.stacks[SERVICE].predictions[api]
        group_id = ref(app, prediction.deployment_group.deployment_group_name)["Ref"]
        props = groups[group_id]["Properties"]
        assert props["DeploymentConfigName"] == expected_config
        assert props["AutoRollbackConfiguration"]["Enabled"] is True
        assert set(props["AutoRollbackConfiguration"]["Events"]) == {
            "DEPLOYMENT_FAILURE",
            "DEPLOYMENT_STOP_ON_REQUEST",
            "DEPLOYMENT_STOP_ON_ALARM",
        }
        assert props["AlarmConfiguration"]["Enabled"] is True
        watched = [alarm["Name"] for alarm in props["AlarmConfiguration"]["Alarms"]]
        assert watched == [ref(app, alarm.alarm_name) for alarm in prediction.alarms]
        assert len(watched) == 3


@pytest.mark.parametrize("api", API_VERSIONS)
def test_rollback_alarms_watch_the_new_version_not_the_alias_average(prod_app, api):
    # Given the rollback alarms of one function
    prediction = prod_app.stacks[SERVICE].predictions[api]
    alarms = resources(prod_app, "AWS::CloudWatch::Alarm")
    by_metric = {}
    for alarm in prediction.alarms:
        props = alarms[ref(prod_app, alarm.alarm_arn)["Fn::GetAtt"][0]]["Properties"]
        by_metric[props["MetricName"]] = props
    thresholds = prod_app.config.deployment
    function_name = f"propensity-prod-predict-{api}"
    executed_version = {"Name": "ExecutedVersion", "Value": ref(prod_app, prediction.version.version)}
    alias_resource = {"Name": "Resource", "Value": f"{function_name}:{ALIAS_NAME}"}
    # Then errors and p99 duration are read per executed version (the version being deployed)
    for metric in ("Errors", "Duration"):
        assert by_metric[metric]["Namespace"] == "AWS/Lambda"
        assert executed_version in by_metric[metric]["Dimensions"]
        assert alias_resource in by_metric[metric]["Dimensions"]
    assert by_metric["Errors"]["Threshold"] == thresholds.new_version_errors
    assert by_metric["Duration"]["ExtendedStatistic"] == "p99"
    assert by_metric["Duration"]["Threshold"] == thresholds.new_version_p99_duration_ms
    # And HTTP 5xx are read for the new model version, which is the new Lambda version
    server_errors = by_metric[SERVER_ERRORS_METRIC]
    assert {"Name": "ModelVersion", "Value": prediction.model_version} in server_errors["Dimensions"]
    assert all(props["TreatMissingData"] == "notBreaching" for props in by_metric.values())


@pytest.mark.parametrize("api", API_VERSIONS)
def test_hooks_may_invoke_only_what_they_check(prod_app, api):
    # Given the hook functions' policies
    prediction = prod_app.stacks[SERVICE].predictions[api]
    policies = resources(prod_app, "AWS::IAM::Policy")

    def statements(hook) -> list[dict[str, Any]]:
        role_id = ref(prod_app, hook.role.role_name)["Ref"]
        return [
            statement
            for policy in policies.values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]

    def invoke_targets(hook) -> list[Any]:
        return [s["Resource"] for s in statements(hook) if s["Action"] == "lambda:InvokeFunction"]

    # Then the pre-traffic hook invokes only the new version, the post-traffic one only the alias
    assert invoke_targets(prediction.hooks.pre_traffic) == [ref(prod_app, prediction.version.function_arn)]
    post_target = json.dumps(invoke_targets(prediction.hooks.post_traffic))
    assert f"function:propensity-prod-predict-{api}:{ALIAS_NAME}" in post_target
    # And both report to (and read) their own deployment group only
    for hook in (prediction.hooks.pre_traffic, prediction.hooks.post_traffic):
        codedeploy = [s for s in statements(hook) if "codedeploy" in json.dumps(s["Action"])]
        actions = {
            a for s in codedeploy for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        assert actions == {"codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"}
        assert "deploymentgroup:" in json.dumps([s["Resource"] for s in codedeploy])
    # And the pre-traffic hook knows what it guards and which model version it expects
    prod_app.template(SERVICE).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": f"propensity-prod-pretraffic-{api}",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "API_VERSION": api,
                        "TARGET_FUNCTION_NAME": ref(prod_app, prediction.function.function_name),
                        "EXPECTED_MODEL_VERSION": prediction.model_version,
                    }
                )
            },
        },
    )


def test_outputs_have_stable_names(prod_app):
    # Given the stack outputs scripts and the probe rely on
    outputs = prod_app.template(SERVICE).find_outputs("*")
    # Then they are there under fixed logical ids
    assert {"ApiUrl", "V1FunctionName", "V2FunctionName", "V1ModelVersion", "V2DeploymentGroup"} <= set(
        outputs
    )
    assert outputs["V1ModelVersion"]["Value"] == prod_app.stacks[SERVICE].model_versions["v1"]

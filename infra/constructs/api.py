"""The public REST API: ``/v1/{proxy+}``, ``/v2/{proxy+}`` and ``/health`` on the ``live`` aliases.

API keys and a usage plan per consumer (throttle and daily quota), stage throttling, JSON
access logs, execution logs for errors, X-Ray, TLS 1.2+ with forward secrecy (enhanced
security policy), no CORS (no preflight routes, no Access-Control headers: consumers are
servers), and a web ACL that refuses oversized bodies before a Lambda runs.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import ApiConfig, ConsumerConfig
from infra.constructs.lambda_function import checkov_skip
from infra.constructs.nag import managed_policy_arn
from infra.constructs.retention import retention_days
from infra.constructs.waf import ApiFirewall
from propensity.constants import MAX_BODY_BYTES_BATCH, ApiVersion

# One JSON object per request. Identities are API key ids, never key values.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "apiKeyId": "$context.identity.apiKeyId",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "tlsVersion": "$context.tlsVersion",
    "cipherSuite": "$context.cipherSuite",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "errorMessage": "$context.error.message",
    "errorType": "$context.error.responseType",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}


class PredictionApi(Construct):
    """Exposes ``api`` (RestApi), ``stage``, ``url``, ``api_keys`` and ``usage_plans`` by consumer name,
    ``access_log_group`` and ``firewall`` (None when the stage turns WAF off)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        stage_name: str,
        aliases: dict[ApiVersion, lambda_.IAlias],
        health_api: ApiVersion,
        consumers: list[ConsumerConfig],
        settings: ApiConfig,
        throttle_rps: float,
        throttle_burst: int,
        integration_timeout: cdk.Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_log_group = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=f"/aws/apigateway/{name}/access",
            retention=retention_days(settings.access_log_retention_days),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.api = apigateway.RestApi(
            self,
            "Api",
            rest_api_name=name,
            description="Term-deposit propensity predictions (v1 deprecated, v2)",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            api_key_source_type=apigateway.ApiKeySourceType.HEADER,
            # Execution logs need the account-level role API Gateway writes to CloudWatch with.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            deploy_options=apigateway.StageOptions(
                stage_name=stage_name,
                throttling_rate_limit=throttle_rps,
                throttling_burst_limit=throttle_burst,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                # ERROR only: INFO and data tracing would write request bodies (customer data) to logs.
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
            ),
        )
        cfn_api = self.api.node.default_child
        assert isinstance(cfn_api, apigateway.CfnRestApi)
        cfn_api.security_policy = settings.security_policy
        cfn_api.endpoint_access_mode = "STRICT"
        self.stage = self.api.deployment_stage
        checkov_skip(
            self.stage.node.default_child,  # type: ignore[arg-type]
            "CKV_AWS_120",
            "Every call is a POST of one customer's features: nothing to cache (and a cache would keep "
            "customer data in API Gateway, from 0.02 USD an hour)",
        )

        validator = apigateway.RequestValidator(
            self,
            "Validator",
            rest_api=self.api,
            validate_request_parameters=True,
            # No method declares a body model, so API Gateway leaves bodies to the service, which
            # answers with the contract's 422 shape; the validator still checks declared parameters.
            validate_request_body=True,
        )
        for api, alias in sorted(aliases.items()):
            integration = apigateway.LambdaIntegration(
                alias, proxy=True, allow_test_invoke=False, timeout=integration_timeout
            )
            version_resource = self.api.root.add_resource(api)
            # ANY added explicitly: add_proxy(any_method=True) drops the request validator.
            proxy = version_resource.add_proxy(any_method=False)
            proxy.add_method("ANY", integration, api_key_required=True, request_validator=validator)
        self.api.root.add_resource("health").add_method(
            "GET",
            apigateway.LambdaIntegration(
                aliases[health_api], proxy=True, allow_test_invoke=False, timeout=integration_timeout
            ),
            api_key_required=True,
            request_validator=validator,
        )

        self.api_keys: dict[str, apigateway.IApiKey] = {}
        self.usage_plans: dict[str, apigateway.UsagePlan] = {}
        for consumer in consumers:
            key = apigateway.ApiKey(
                self,
                f"Key-{consumer.name}",
                api_key_name=f"{name}-{consumer.name}",
                description=f"API key of consumer {consumer.name} (value generated by API Gateway)",
                enabled=True,
            )
            plan = self.api.add_usage_plan(
                f"Plan-{consumer.name}",
                name=f"{name}-{consumer.name}",
                description=f"Throttle and daily quota of consumer {consumer.name}",
                throttle=apigateway.ThrottleSettings(
                    rate_limit=consumer.rate_limit_rps, burst_limit=consumer.burst_limit
                ),
                quota=apigateway.QuotaSettings(limit=consumer.quota_per_day, period=apigateway.Period.DAY),
                api_stages=[apigateway.UsagePlanPerApiStage(api=self.api, stage=self.stage)],
            )
            plan.add_api_key(key)
            self.api_keys[consumer.name] = key
            self.usage_plans[consumer.name] = plan

        self.firewall = (
            ApiFirewall(
                self,
                "Firewall",
                name=f"{name}-edge",
                stage_arn=self.stage.stage_arn,
                max_body_bytes=MAX_BODY_BYTES_BATCH,
            )
            if settings.waf
            else None
        )
        self.url = self.api.url
        self._suppress_findings()

    @property
    def consumer_key_ids(self) -> str:
        """``{"<API key id>": "<consumer name>"}`` as JSON (a token at synth): the functions'
        ``CONSUMER_KEY_IDS``, so events and the ``V1Calls`` metric name consumers, not key ids."""
        return cdk.Stack.of(self).to_json_string({key.key_id: name for name, key in self.api_keys.items()})

    def _suppress_findings(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self.api,
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG4",
                    reason="Consumers are internal servers identified by API keys with a usage plan each "
                    "(throttle, quota); the v1 contract is an x-api-key call, IAM or Cognito would break it",
                ),
                NagPackSuppression(
                    id="AwsSolutions-COG4",
                    reason="No end users: consumers are servers identified by API keys (see APIG4)",
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    applies_to=[
                        f"Policy::{managed_policy_arn('service-role/AmazonAPIGatewayPushToCloudWatchLogs')}"
                    ],
                    reason="The account-level role API Gateway writes execution logs with; AWS documents "
                    "this managed policy for it and it grants only CloudWatch Logs writes",
                ),
            ],
            apply_to_children=True,
        )

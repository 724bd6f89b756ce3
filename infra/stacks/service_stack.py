"""The serving stack: layers, one prediction function per API version, the public API.

Thin: it resolves what to ship (model bundles pinned by the stage), composes one construct per
capability and exposes what the monitoring stacks need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.api import PredictionApi
from infra.constructs.deployment_events import announce_rollback_alarms
from infra.constructs.layers import SharedLayers
from infra.constructs.nag import suppress_python_runtime_finding
from infra.constructs.prediction import PredictionFunction
from infra.packaging import model_bundle_dir, resolve_model_version
from propensity.constants import API_VERSIONS, ApiVersion
from propensity.promotion.stage import prediction_function_name
from propensity.service.settings import CONSUMER_KEY_IDS_ENV, EXPERIMENT_REGISTRY_ENV

# /health outlives v1: it is served by the current API version.
HEALTH_API: ApiVersion = "v2"
# A/B experiments need a customer_ref, which only v2 requests carry.
EXPERIMENT_API: ApiVersion = "v2"


class ServiceStack(cdk.Stack):
    """Exposes ``functions``, ``aliases``, ``log_groups``, ``predictions`` (constructs), ``api``,
    ``api_url``, ``runtime_layer``, ``domain_layer``, ``layers``, ``bundle_dirs``, ``model_versions``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        registry_stack: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        name_prefix = f"propensity-{config.stage}"

        shared = SharedLayers(self, "Layers", architecture=config.prediction.architecture)
        self.runtime_layer: lambda_.LayerVersion = shared.runtime
        self.domain_layer: lambda_.LayerVersion = shared.domain
        self.layers = shared.layers

        self.model_versions: dict[ApiVersion, str] = {}
        self.bundle_dirs: dict[ApiVersion, Path] = {}
        self.predictions: dict[ApiVersion, PredictionFunction] = {}
        for api in API_VERSIONS:
            self.model_versions[api] = resolve_model_version(config, api)
            self.bundle_dirs[api] = model_bundle_dir(config, api)
            self.predictions[api] = PredictionFunction(
                self,
                f"Predict{api.upper()}",
                api=api,
                name_prefix=name_prefix,
                function_name=prediction_function_name(config.stage, api),
                bundle_dir=self.bundle_dirs[api],
                model_version=self.model_versions[api],
                settings=config.prediction,
                thresholds=config.deployment,
                layers=self.layers,
                v1_deprecation_date=config.v1_deprecation_date,
                v1_sunset_date=config.v1_sunset_date,
            )
        announce_rollback_alarms(
            self, [alarm for p in self.predictions.values() for alarm in p.alarms], config
        )
        self.functions: dict[ApiVersion, lambda_.Function] = {
            a: p.function for a, p in self.predictions.items()
        }
        self.aliases: dict[ApiVersion, lambda_.Alias] = {a: p.alias for a, p in self.predictions.items()}
        self.log_groups: dict[ApiVersion, logs.LogGroup] = {
            a: p.log_group for a, p in self.predictions.items()
        }

        self.public_api = PredictionApi(
            self,
            "Api",
            name=f"{name_prefix}-api",
            stage_name=config.stage,
            aliases=dict(self.aliases),
            health_api=HEALTH_API,
            consumers=config.consumers,
            settings=config.api,
            throttle_rps=config.stage_throttle_rps,
            throttle_burst=config.stage_throttle_burst,
            integration_timeout=cdk.Duration.seconds(config.prediction.timeout_seconds + 1),
        )
        self.api: apigateway.RestApi = self.public_api.api
        # The keys exist only now (the API needs the aliases first): name them to the functions.
        for prediction in self.predictions.values():
            prediction.function.add_environment(CONSUMER_KEY_IDS_ENV, self.public_api.consumer_key_ids)
        self.api_url: str = self.public_api.url
        if "experiments" in config.requires and config.registry_location is not None:
            _experiment_reader(self, config.registry_location, registry_stack)

        cdk.CfnOutput(self, "ApiUrl", value=self.api_url, description="Base URL of the API stage")
        for api, prediction in self.predictions.items():
            cdk.CfnOutput(self, f"{api.upper()}FunctionName", value=prediction.function.function_name)
            cdk.CfnOutput(self, f"{api.upper()}ModelVersion", value=self.model_versions[api])
            cdk.CfnOutput(
                self, f"{api.upper()}DeploymentGroup", value=prediction.deployment_group.deployment_group_name
            )
        for consumer, key in self.public_api.api_keys.items():
            cdk.CfnOutput(
                self,
                f"ApiKeyId{_pascal(consumer)}",
                value=key.key_id,
                description=f"`aws apigateway get-api-key --include-value --api-key <id>` for {consumer}",
            )
        self._suppress_findings()

    def _suppress_findings(self) -> None:
        suppress_python_runtime_finding(self)


def _experiment_reader(stack: ServiceStack, location: str, registry_stack: Any) -> None:
    """v2 serves a running A/B experiment: it reads the experiment records and the challenger's
    bundle from the stage's registry at run time (propensity.experiments.serving), verifies their
    seals with the signing key, and keeps the challenger in /tmp."""
    from infra.constructs.drift import grant_registry_read
    from infra.stacks.registry_stack import VERIFY_ACTIONS
    from propensity.registry.signing import SIGNING_KEY_ENV

    prediction = stack.predictions[EXPERIMENT_API]
    role = prediction.function.role
    assert role is not None
    prediction.function.add_environment(EXPERIMENT_REGISTRY_ENV, location)
    grant_registry_read(prediction, role, location, aliases=False)
    NagSuppressions.add_resource_suppressions(
        role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="Read-only access to the registry's models/ and records/ (the experiment records "
                "and the challenger's bundle); keys are per object, so a prefix wildcard is the narrowest "
                "grant; Get*/List* are CDK's read grant",
            )
        ],
        apply_to_children=True,
    )
    if registry_stack is not None:
        registry_stack.data_key.grant_decrypt(role)
        registry_stack.signing_key.grant(role, *VERIFY_ACTIONS)
        prediction.function.add_environment(SIGNING_KEY_ENV, registry_stack.signing_key.key_arn)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))

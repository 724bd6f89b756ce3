"""CodeDeploy lifecycle hooks of one prediction function.

- BeforeAllowTraffic (``functions/pretraffic``): replays the bundle's golden requests against
  the NEW version, checks status, contract and expected outputs, reports to CodeDeploy.
- AfterAllowTraffic (``functions/posttraffic``): a smoke test through the ``live`` alias.

Each hook ships the golden set of the bundle being deployed inside its own asset, so the hook
always judges the new version against that version's own expected answers.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.lambda_function import LambdaFunction
from infra.packaging import bundled_code_dir
from propensity.bundle.manifest import GOLDEN_FILE
from propensity.constants import ApiVersion
from propensity.policy.deployment import DeploymentThresholds


class DeploymentHooks(Construct):
    """``pre_traffic`` and ``post_traffic`` functions (``LambdaFunction``) for one API version."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: ApiVersion,
        name_prefix: str,
        bundle_dir: Path,
        model_version: str,
        target_function: lambda_.IFunction,
        thresholds: DeploymentThresholds,
        v1_dates: tuple[date, date],
        layers: list[lambda_.ILayerVersion],
        architecture: lambda_.Architecture,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            "API_VERSION": api,
            "TARGET_FUNCTION_NAME": target_function.function_name,
            "EXPECTED_MODEL_VERSION": model_version,
            "GOLDEN_FILE": GOLDEN_FILE,
            "MAX_CASES": str(thresholds.golden_max_cases),
            "V1_DEPRECATION_DATE": v1_dates[0].isoformat(),
            "V1_SUNSET_DATE": v1_dates[1].isoformat(),
        }
        if thresholds.golden_probability_tolerance is not None:
            environment["PROBABILITY_TOLERANCE"] = repr(thresholds.golden_probability_tolerance)
        golden = {GOLDEN_FILE: bundle_dir / GOLDEN_FILE}
        self.pre_traffic = LambdaFunction(
            self,
            "PreTraffic",
            function_name=f"{name_prefix}-pretraffic-{api}",
            code_dir=bundled_code_dir("pretraffic", golden, f"{api}-{model_version}"),
            handler="pretraffic_handler.lambda_handler",
            layers=layers,
            environment=environment,
            memory_mb=256,
            # Golden replay invokes the new version once per case; a SnapStart restore and a
            # few hundred cases fit well within this (CodeDeploy waits up to an hour).
            timeout=cdk.Duration.minutes(5),
            architecture=architecture,
            log_retention=log_retention,
            description=f"BeforeAllowTraffic: golden replay of {api} model {model_version}, new version",
        )
        self.post_traffic = LambdaFunction(
            self,
            "PostTraffic",
            function_name=f"{name_prefix}-posttraffic-{api}",
            code_dir=bundled_code_dir("posttraffic", golden, f"{api}-{model_version}"),
            handler="posttraffic_handler.lambda_handler",
            layers=layers,
            environment=environment,
            memory_mb=256,
            timeout=cdk.Duration.minutes(2),
            architecture=architecture,
            log_retention=log_retention,
            description=f"AfterAllowTraffic: smoke test of {api} through the live alias",
        )

    def allow_checks(self, *, new_version: lambda_.IVersion, function_name: str, alias_name: str) -> None:
        """The pre-traffic hook may invoke only the version being deployed; post-traffic only the alias.

        The alias ARN is spelled out from the (fixed) function name rather than referenced: the
        alias's update policy names this hook, so a reference back to the alias would be a cycle.
        """
        self.pre_traffic.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[new_version.function_arn],
            )
        )
        alias_arn = cdk.Stack.of(self).format_arn(
            service="lambda",
            resource="function",
            resource_name=f"{function_name}:{alias_name}",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.post_traffic.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[alias_arn])
        )

    def allow_deployment_lookup(self, deployment_group_arn: str) -> None:
        """Both hooks read their deployment (to learn the target version) from CodeDeploy."""
        for hook in (self.pre_traffic, self.post_traffic):
            hook.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["codedeploy:GetDeployment"],
                    resources=[deployment_group_arn],
                )
            )

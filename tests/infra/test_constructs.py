"""Constructs in a bare stack: the variants a stage can choose, and the edge's size rule."""

from __future__ import annotations

import random
import re
from datetime import date

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.config import PredictionConfig
from infra.constructs.layers import shared_layers
from infra.constructs.prediction import PredictionFunction
from infra.constructs.waf import greater_than_pattern
from propensity.policy.deployment import DeploymentThresholds


@pytest.mark.parametrize("limit", [0, 7, 9, 10, 99, 100, 1999, 16384, 1048576, 9999999])
def test_size_pattern_matches_exactly_the_numbers_above_the_limit(limit):
    # Given the Content-Length pattern generated for a limit
    pattern = re.compile(greater_than_pattern(limit))
    rng = random.Random(limit)
    samples = {0, 1, limit - 1, limit, limit + 1, limit * 10, 10 ** len(str(limit))}
    samples |= {rng.randrange(0, max(1, limit * 3)) for _ in range(2000)}
    # Then a number matches if and only if it is larger than the limit
    for number in sorted(n for n in samples if n >= 0):
        assert bool(pattern.match(str(number))) == (number > limit), number
    # And WAF accepts it (regex strings are limited to 200 characters)
    assert len(pattern.pattern) <= 200


def _function_stack(bundle_dir, settings: PredictionConfig) -> Template:
    app = cdk.App()
    stack = cdk.Stack(app, "Bare", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    PredictionFunction(
        stack,
        "Predict",
        api="v1",
        name_prefix="propensity-test",
        function_name="propensity-test-predict-v1",
        bundle_dir=bundle_dir,
        model_version="v1-test",
        settings=settings,
        thresholds=DeploymentThresholds(),
        layers=shared_layers(stack, architecture=settings.architecture),
        v1_deprecation_date=date(2026, 9, 1),
        v1_sunset_date=date(2027, 6, 30),
    )
    return Template.from_stack(stack)


def test_provisioned_concurrency_and_a_custom_linear_rollout(trained):
    # Given a stage that prefers provisioned concurrency to SnapStart, and a 20%-every-2-minutes rollout
    settings = PredictionConfig(
        snap_start=False,
        provisioned_concurrency=3,
        deployment="linear",
        traffic_percent=20,
        traffic_interval_minutes=2,
    )
    # When the prediction function is built
    template = _function_stack(trained["v1"].bundle_path, settings)
    # Then the alias keeps 3 environments warm, the function has no SnapStart
    template.has_resource_properties(
        "AWS::Lambda::Alias",
        {"Name": "live", "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 3}},
    )
    template.has_resource_properties(
        "AWS::Lambda::Function", {"FunctionName": "propensity-test-predict-v1", "SnapStart": Match.absent()}
    )
    # And a custom deployment config shifts 20% more traffic every 2 minutes
    template.has_resource_properties(
        "AWS::CodeDeploy::DeploymentConfig",
        {
            "ComputePlatform": "Lambda",
            "TrafficRoutingConfig": {
                "Type": "TimeBasedLinear",
                "TimeBasedLinear": {"LinearInterval": 2, "LinearPercentage": 20},
            },
        },
    )

"""What `propensity rollback` assumes about the deployed functions is what the stack deploys."""

from __future__ import annotations

import pytest

from propensity.constants import API_VERSIONS
from propensity.promotion.stage import LIVE_ALIAS, prediction_function_name


@pytest.mark.parametrize("api", API_VERSIONS)
def test_rollback_defaults_name_the_deployed_function_and_alias(prod_app, api):
    # Given the synthesized prod service stack
    template = prod_app.template("service")
    service = prod_app.stacks["service"]

    # Then the function the rollback command targets by default exists under that name, its
    # alias is called "live", and each published version describes its model version
    template.has_resource_properties(
        "AWS::Lambda::Function", {"FunctionName": prediction_function_name("prod", api)}
    )
    template.has_resource_properties("AWS::Lambda::Alias", {"Name": LIVE_ALIAS})
    template.has_resource_properties("AWS::Lambda::Version", {"Description": service.model_versions[api]})

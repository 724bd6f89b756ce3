"""A regional web ACL for the API stage: oversized bodies and known-bad inputs never reach a Lambda.

API Gateway's own payload limit is 10 MB; the service refuses far less (constants
MAX_BODY_BYTES_*). Refusing at the edge keeps such requests off the functions' bill and
concurrency. WAF inspects only the first kilobytes of a body, so the size is judged by the
``Content-Length`` header with a regular expression generated from the limit itself.
"""

from __future__ import annotations

import json

from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

TOO_LARGE_BODY_KEY = "too-large"


def greater_than_pattern(limit: int) -> str:
    """A regex that matches exactly the decimal integers (no sign, no leading zeros) above ``limit``."""
    if limit < 0:
        raise ValueError("limit must be non-negative")
    digits = str(limit)
    width = len(digits)
    # Any number with more digits is larger.
    alternatives = [f"[1-9][0-9]{{{width},}}"]
    # Same width: equal on a prefix, larger at the next digit, anything after.
    for position, digit in enumerate(digits):
        if digit == "9":
            continue
        low = int(digit) + 1
        if position == 0 and width > 1:
            low = max(low, 1)
        larger = f"[{low}-9]" if low < 9 else "9"
        rest = width - position - 1
        tail = f"[0-9]{{{rest}}}" if rest else ""
        alternatives.append(f"{digits[:position]}{larger}{tail}")
    return f"^({'|'.join(alternatives)})$"


class ApiFirewall(Construct):
    """``web_acl`` (REGIONAL), associated with ``stage_arn``; exposes ``web_acl_arn``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str, stage_arn: str, max_body_bytes: int
    ) -> None:
        super().__init__(scope, construct_id)

        def visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
            )

        too_large = wafv2.CfnWebACL.RuleProperty(
            name="body-too-large",
            priority=0,
            action=wafv2.CfnWebACL.RuleActionProperty(
                block=wafv2.CfnWebACL.BlockActionProperty(
                    custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                        response_code=413, custom_response_body_key=TOO_LARGE_BODY_KEY
                    )
                )
            ),
            statement=wafv2.CfnWebACL.StatementProperty(
                regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                        single_header={"Name": "content-length"}
                    ),
                    regex_string=greater_than_pattern(max_body_bytes),
                    text_transformations=[
                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                    ],
                )
            ),
            visibility_config=visibility(f"{name}-body-too-large"),
        )
        known_bad_inputs = wafv2.CfnWebACL.RuleProperty(
            name="aws-known-bad-inputs",
            priority=1,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name="AWSManagedRulesKnownBadInputsRuleSet"
                )
            ),
            visibility_config=visibility(f"{name}-known-bad-inputs"),
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope="REGIONAL",
            description="Propensity API edge: body size limit and AWS known-bad-inputs rules",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            custom_response_bodies={
                TOO_LARGE_BODY_KEY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=json.dumps({"detail": f"request body larger than {max_body_bytes} bytes"}),
                )
            },
            rules=[too_large, known_bad_inputs],
            visibility_config=visibility(name),
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        self.web_acl_arn = self.web_acl.attr_arn

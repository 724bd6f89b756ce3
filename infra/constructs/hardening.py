"""Hardening applied to every stack at synth, so new constructs get it without asking.

- Every CloudWatch log group is encrypted with the stack's functions key (CloudWatch Logs
  does the encryption itself, so writers such as API Gateway or Firehose need no grant).
- CDK's own deploy-time handlers (the bucket-notifications singleton, log retention) are
  answered for the function-level checks with the reason: they are not ours, run once per
  deployment, invoked synchronously by CloudFormation (no asynchronous event to lose).

Everything else is fixed where it is built (``lambda_function``) or suppressed inline there
with ``checkov_skip`` and its reason; ``tests/infra/test_checkov.py`` lists what is left.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import IAspect
from aws_cdk import aws_logs as logs
from constructs import IConstruct

from infra.constructs.function_key import function_key
from infra.constructs.lambda_function import checkov_skip

# Path fragments of the Lambda functions CDK itself adds to a stack.
CDK_HANDLERS = (
    "BucketNotificationsHandler",
    "LogRetention",
    "CustomResourceProvider",
    "AWS679f53fac002430cb0da5b7982bd2287",
)
CDK_HANDLER_REASON = (
    "CDK's own deploy-time custom-resource handler: invoked synchronously by CloudFormation once per "
    "deployment (no asynchronous event to lose, nothing to reach in a VPC, no traffic to cap)"
)


@jsii.implements(IAspect)
class Hardening:
    """The aspect (``add_hardening(stack)``)."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup) and node.kms_key_id is None:
            node.kms_key_id = function_key(node).key_arn
        elif (
            isinstance(node, cdk.CfnResource)
            and node.cfn_resource_type == "AWS::Lambda::Function"
            and any(h in node.node.path for h in CDK_HANDLERS)
        ):
            metadata = node.get_metadata("checkov") or {}
            if not metadata.get("skip"):
                for check in ("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"):
                    checkov_skip(node, check, CDK_HANDLER_REASON)

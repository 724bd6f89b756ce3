"""Alert routing: three encrypted SNS tiers, the PagerDuty and Slack notifiers, the daily digest.

    critical --> notify-pagerduty (Events API v2)  and  notify-slack
    warning  --> notify-slack
    info     --> (read by the daily digest from the alarm history; no push)
    digest   --> e-mail subscriptions (the digest function publishes here, and the alert DLQ
                 alarm too, so that path does not depend on the notifiers it reports on)

Delivery never fails silently: each notifier retries with backoff inside one invocation
(``propensity.alerting.retry``), Lambda retries the asynchronous invocation twice, and then
the event goes to the alert dead-letter queue (SQS, KMS-encrypted). SNS's own delivery
failures to the functions land in the same queue, which has a critical alarm of its own.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from infra.config import AlertEndpoints
from infra.constructs.lambda_function import LambdaFunction
from infra.packaging import function_code_dir
from propensity.alerting.retry import RetryPolicy
from propensity.alerting.signals import Deployment
from propensity.alerting.tiers import TIERS, Tier

# Lambda's own retries of a failed asynchronous invocation (0 to 2), then the DLQ.
ASYNC_RETRIES = 2
# An alert older than this is stale: it goes to the DLQ rather than paging hours late.
MAX_EVENT_AGE = cdk.Duration.hours(1)
DLQ_RETENTION = cdk.Duration.days(14)
# An alarm storm (a region-wide outage fires many at once) must not queue pages behind each
# other; beyond this, Lambda keeps the throttled events and retries them within MAX_EVENT_AGE.
NOTIFIER_CONCURRENCY = 10
ROUTED = "the alert dead-letter queue (`propensity alerts-redrive` resends them)"


def suppress_key_grant_wildcards(role: iam.IRole) -> None:
    """AwsSolutions-IAM5 for the action wildcards of CDK's KMS grants on the one alert key."""
    NagSuppressions.add_resource_suppressions(
        role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                applies_to=["Action::kms:ReEncrypt*", "Action::kms:GenerateDataKey*"],
                reason="CDK's standard grant for writing to the KMS-encrypted DLQ / topic; the resource is "
                "the alert key alone, and those action families are what SQS and SNS encryption need",
            )
        ],
        apply_to_children=True,
    )


def notifier_timeout(policy: RetryPolicy) -> cdk.Duration:
    """Room for every attempt and wait of one delivery, plus cold start and the secret read."""
    return cdk.Duration.seconds(int(policy.worst_case_seconds()) + 15)


class AlertRouting(Construct):
    """Exposes ``key``, ``topics`` (critical, warning, info), ``digest_topic``, ``dead_letter_queue``,
    ``pagerduty`` / ``slack`` / ``digest`` (``LambdaFunction``), ``digest_rule``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        endpoints: AlertEndpoints,
        deployment: Deployment,
        dashboard_url: str,
        runbook_url: str,
        digest_hour_utc: int,
        layers: list[lambda_.ILayerVersion],
        architecture: lambda_.Architecture,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{name_prefix}-alerts",
            description="Encrypts the alert topics and the alert dead-letter queue",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        account = cdk.Stack.of(self).account
        # CloudWatch alarms publish to the topics, SNS and EventBridge write to the DLQ: each
        # needs the key, and an AWS-managed key would refuse them all. CloudWatch's statement
        # carries no condition, as AWS documents it for alarms on encrypted topics: a condition
        # CloudWatch does not populate would silently stop every alarm notification.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" is this key
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DeadLetterWriters",
                principals=[
                    iam.ServicePrincipal("sns.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )

        self.topics: dict[Tier, sns.Topic] = {
            tier: sns.Topic(
                self,
                f"Topic{tier.capitalize()}",
                topic_name=f"{name_prefix}-{tier}",
                display_name=f"Propensity {tier} alerts",
                master_key=self.key,
                enforce_ssl=True,
            )
            for tier in TIERS
        }
        self.digest_topic = sns.Topic(
            self,
            "DigestTopic",
            topic_name=f"{name_prefix}-digest",
            display_name="Propensity daily digest",
            master_key=self.key,
            enforce_ssl=True,
        )
        if endpoints.digest_email:
            self.digest_topic.add_subscription(subscriptions.EmailSubscription(endpoints.digest_email))

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=f"{name_prefix}-alert-dlq",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        NagSuppressions.add_resource_suppressions(
            self.dead_letter_queue,
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason="This queue is the alert delivery dead-letter queue; a critical alarm watches it",
                )
            ],
        )

        common = {
            "DASHBOARD_URL": dashboard_url,
            "RUNBOOK_URL": runbook_url,
        }
        policy = RetryPolicy()
        routing_key = secretsmanager.Secret.from_secret_name_v2(
            self, "RoutingKey", endpoints.pagerduty_routing_key_secret
        )
        webhook = secretsmanager.Secret.from_secret_name_v2(
            self, "SlackWebhook", endpoints.slack_webhook_secret
        )

        self.pagerduty = LambdaFunction(
            self,
            "NotifyPagerDuty",
            function_name=f"{name_prefix}-notify-pagerduty",
            code_dir=function_code_dir("notify_pagerduty"),
            handler="notify_pagerduty_handler.lambda_handler",
            layers=layers,
            environment={
                **common,
                "PAGERDUTY_ROUTING_KEY_SECRET": endpoints.pagerduty_routing_key_secret,
                "ALERT_SOURCE": f"{name_prefix} {cdk.Stack.of(self).region}",
            },
            memory_mb=256,
            timeout=notifier_timeout(policy),
            architecture=architecture,
            log_retention=log_retention,
            reserved_concurrency=NOTIFIER_CONCURRENCY,
            failures_routed_by=ROUTED,
            description="Critical alarms to PagerDuty (Events API v2: trigger, resolve, dedup by alarm ARN)",
        )
        routing_key.grant_read(self.pagerduty.role)

        self.slack = LambdaFunction(
            self,
            "NotifySlack",
            function_name=f"{name_prefix}-notify-slack",
            code_dir=function_code_dir("notify_slack"),
            handler="notify_slack_handler.lambda_handler",
            layers=layers,
            environment={**common, "SLACK_WEBHOOK_SECRET": endpoints.slack_webhook_secret},
            memory_mb=256,
            timeout=notifier_timeout(policy),
            architecture=architecture,
            log_retention=log_retention,
            reserved_concurrency=NOTIFIER_CONCURRENCY,
            failures_routed_by=ROUTED,
            description="Critical and warning alarms to Slack (incoming webhook)",
        )
        webhook.grant_read(self.slack.role)

        routes: list[tuple[LambdaFunction, tuple[Tier, ...]]] = [
            (self.pagerduty, ("critical",)),
            (self.slack, ("critical", "warning")),
        ]
        for function, tiers in routes:
            self._fail_to_dead_letter_queue(function)
            for tier in tiers:
                self.topics[tier].add_subscription(
                    subscriptions.LambdaSubscription(
                        function.function, dead_letter_queue=self.dead_letter_queue
                    )
                )

        self.digest = LambdaFunction(
            self,
            "Digest",
            function_name=f"{name_prefix}-digest",
            code_dir=function_code_dir("digest"),
            handler="digest_handler.lambda_handler",
            layers=layers,
            environment={
                **common,
                "SLACK_WEBHOOK_SECRET": endpoints.slack_webhook_secret,
                "DIGEST_TOPIC_ARN": self.digest_topic.topic_arn,
                "DIGEST_DEPLOYMENT": deployment.model_copy(
                    update={"tier_topics": {tier: topic.topic_arn for tier, topic in self.topics.items()}}
                ).model_dump_json(),
            },
            memory_mb=256,
            timeout=cdk.Duration.minutes(2),
            architecture=architecture,
            log_retention=log_retention,
            reserved_concurrency=1,
            failures_routed_by=ROUTED,
            description="Daily digest of the last 24 hours (alarms of every tier, traffic, latency, errors)",
        )
        webhook.grant_read(self.digest.role)
        self.digest_topic.grant_publish(self.digest.role)
        self._allow_digest_reads(self.digest.role)
        self._fail_to_dead_letter_queue(self.digest)
        self.digest_rule = events.Rule(
            self,
            "DigestSchedule",
            rule_name=f"{name_prefix}-digest",
            description="Daily digest of the last 24 hours",
            schedule=events.Schedule.cron(minute="0", hour=str(digest_hour_utc)),
            targets=[
                targets.LambdaFunction(
                    self.digest.function,
                    retry_attempts=2,
                    dead_letter_queue=self.dead_letter_queue,
                    max_event_age=cdk.Duration.hours(2),
                )
            ],
        )

    def _fail_to_dead_letter_queue(self, function: LambdaFunction) -> None:
        function.function.configure_async_invoke(
            retry_attempts=ASYNC_RETRIES,
            max_event_age=MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        suppress_key_grant_wildcards(function.role)

    def _allow_digest_reads(self, role: iam.IRole) -> None:
        stack = cdk.Stack.of(self)
        policy = iam.Policy(
            self,
            "DigestReads",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"],
                    resources=[
                        stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
                iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"]),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    applies_to=[
                        "Resource::*",
                        RegexAppliesTo(regex="/^Resource::arn:<AWS::Partition>:cloudwatch:.*:alarm:\\*$/"),
                    ],
                    reason="The digest summarises every alarm wired to the tier topics (other stacks add "
                    "theirs) and cloudwatch:GetMetricData supports no resource-level permissions; read-only",
                )
            ],
        )

"""The synthetic probe: a scheduled function calling the public API like a consumer.

It has its own API key (generated into Secrets Manager, associated with the API stage by a
usage plan of its own), ships the golden sets of the bundles being deployed, and publishes
ProbeSuccess / ProbeRequests / ProbeCheckSuccess / ProbeLatency (``propensity.probe.metrics``).
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.constructs.function_key import function_key
from infra.constructs.lambda_function import LambdaFunction
from infra.packaging import bundled_code_dir
from propensity.bundle.manifest import GOLDEN_FILE
from propensity.constants import ApiVersion
from propensity.policy.alarms import AlarmThresholds
from propensity.probe.golden import golden_file_name

PROBE_CASES_PER_RUN = 3
PROBE_REQUEST_TIMEOUT_S = 5.0
MAX_RUNS_PER_INVOCATION = 6


def probe_cadence(
    schedule_minutes: int, interval_seconds: int, requests_per_run: int
) -> tuple[int, float, int]:
    """(runs per invocation, per-request timeout, function timeout) for a probe every
    ``interval_seconds`` from a schedule every ``schedule_minutes``.

    A whole run (every request timing out) fits in the interval, and the invocation ends
    before the next one starts: the probe never overlaps itself (its concurrency is 1).
    """
    period = 60 * schedule_minutes
    runs = period // interval_seconds
    if runs * interval_seconds != period or not 1 <= runs <= MAX_RUNS_PER_INVOCATION:
        raise ValueError(
            f"probe: a run every {interval_seconds} s does not divide a schedule of {schedule_minutes} min "
            f"into 1 to {MAX_RUNS_PER_INVOCATION} runs"
        )
    request_timeout = min(PROBE_REQUEST_TIMEOUT_S, (interval_seconds - 2) / requests_per_run)
    return runs, round(request_timeout, 2), period - 1


class SyntheticProbe(Construct):
    """Exposes ``function`` (``LambdaFunction``), ``code_dir`` (its asset, with the golden sets),
    ``api_key_secret``, ``api_key``, ``usage_plan``, ``rule`` and ``service_name`` (the ``service``
    dimension of its metrics)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        api: apigateway.RestApi,
        api_url: str,
        bundle_dirs: dict[ApiVersion, Path],
        model_versions: dict[ApiVersion, str],
        api_key_secret_name: str,
        schedule_minutes: int,
        thresholds: AlarmThresholds,
        layers: list[lambda_.ILayerVersion],
        architecture: lambda_.Architecture,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api_key_secret = secretsmanager.Secret(
            self,
            "ApiKeySecret",
            secret_name=api_key_secret_name,
            description="API key of the synthetic probe (its own consumer of the API)",
            encryption_key=function_key(self),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=40
            ),
        )
        NagSuppressions.add_resource_suppressions(
            self.api_key_secret,
            [
                NagPackSuppression(
                    id="AwsSolutions-SMG4",
                    reason="The value is also the API Gateway key's value: rotating it means replacing the "
                    "key, done by `cdk deploy` after changing the secret (docs/monitoring.md), not by a "
                    "rotation Lambda",
                )
            ],
        )
        self.api_key = apigateway.ApiKey(
            self,
            "ApiKey",
            api_key_name=f"{name_prefix}-probe",
            description="Synthetic probe (value in Secrets Manager)",
            enabled=True,
            value=self.api_key_secret.secret_value.unsafe_unwrap(),
        )
        requests_per_run = 1 + PROBE_CASES_PER_RUN * len(bundle_dirs)
        self.usage_plan = apigateway.UsagePlan(
            self,
            "UsagePlan",
            name=f"{name_prefix}-probe",
            description="The synthetic probe's own plan: a few requests a minute",
            throttle=apigateway.ThrottleSettings(rate_limit=2, burst_limit=requests_per_run),
            api_stages=[apigateway.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
        )
        self.usage_plan.add_api_key(self.api_key)

        golden = {golden_file_name(a): path / GOLDEN_FILE for a, path in sorted(bundle_dirs.items())}
        label = "-".join(model_versions[a] for a in sorted(model_versions))
        self.service_name = f"{name_prefix}-probe"
        runs, request_timeout_s, timeout_s = probe_cadence(
            schedule_minutes, thresholds.probe_interval_seconds, requests_per_run
        )
        self.code_dir = bundled_code_dir("probe", golden, label)
        self.function = LambdaFunction(
            self,
            "Probe",
            function_name=self.service_name,
            code_dir=self.code_dir,
            handler="probe_handler.lambda_handler",
            layers=layers,
            environment={
                "PROBE_API_URL": api_url,
                "PROBE_API_KEY_SECRET": api_key_secret_name,
                "PROBE_GOLDEN_DIR": ".",
                "PROBE_APIS": ",".join(sorted(bundle_dirs)),
                "PROBE_CASES_PER_RUN": str(PROBE_CASES_PER_RUN),
                "PROBE_SCHEDULE_MINUTES": str(schedule_minutes),
                "PROBE_RUNS_PER_INVOCATION": str(runs),
                "PROBE_TIMEOUT_S": repr(request_timeout_s),
                "PROBE_LATENCY_BUDGET_MS": repr(thresholds.probe_latency_budget_ms),
                "PROBE_PROBABILITY_TOLERANCE": repr(thresholds.probe_probability_tolerance),
            },
            memory_mb=256,
            timeout=cdk.Duration.seconds(timeout_s),
            architecture=architecture,
            log_retention=log_retention,
            # One run at a time: a slow API must not pile probes on top of each other.
            reserved_concurrency=1,
            description="Synthetic probe: /health, /v1/predict, /v2/predict with golden requests",
        )
        self.api_key_secret.grant_read(self.function.role)
        # A failed run is recorded by its metrics; re-running it later would only blur them.
        self.function.function.configure_async_invoke(retry_attempts=0, max_event_age=cdk.Duration.minutes(1))
        self.rule = events.Rule(
            self,
            "Schedule",
            rule_name=f"{name_prefix}-probe",
            description="Synthetic probe of the public API",
            schedule=events.Schedule.rate(cdk.Duration.minutes(schedule_minutes)),
            targets=[
                targets.LambdaFunction(
                    self.function.function, retry_attempts=0, max_event_age=cdk.Duration.minutes(1)
                )
            ],
        )

"""The BeforeAllowTraffic and AfterAllowTraffic checks, and their report to CodeDeploy.

A hook always reports: a check that cannot run (CodeDeploy unreachable for the target, the
function failing, an unreadable golden set) is a failed check, so a deployment never waits an
hour for a verdict and never shifts traffic on an unverified version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from propensity.bundle.golden import GoldenSet
from propensity.deployment.checks import check_health, check_prediction
from propensity.deployment.ports import DeploymentService, DeploymentTarget, FunctionInvoker, HookStatus
from propensity.deployment.requests import proxy_event
from propensity.deployment.settings import HookSettings
from propensity.observability import logger


@dataclass
class HookReport:
    """The verdict sent to CodeDeploy and why."""

    hook: str
    deployment_id: str
    status: HookStatus
    target: DeploymentTarget | None = None
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    def as_log(self) -> dict[str, object]:
        return {
            "hook": self.hook,
            "deployment_id": self.deployment_id,
            "status": self.status,
            "function": self.target.function_name if self.target else None,
            "target_version": self.target.target_version if self.target else None,
            "checked": self.checked,
            "problems": self.problems[:50],
        }


def _judge(
    hook: str,
    deployment_id: str,
    execution_id: str,
    deployments: DeploymentService,
    run: Callable[[HookReport], None],
) -> HookReport:
    report = HookReport(hook=hook, deployment_id=deployment_id, status="Failed")
    try:
        run(report)
    except Exception as error:  # any failure to check is a failed check; the report below still goes out
        report.problems.append(f"the check could not run: {type(error).__name__}: {error}")
    report.status = "Succeeded" if report.checked and not report.problems else "Failed"
    if report.status == "Failed" and not report.problems:
        report.problems.append("nothing was checked")
    log = logger.info if report.status == "Succeeded" else logger.error
    log(f"{hook} {report.status}", extra=report.as_log())
    deployments.report(deployment_id, execution_id, report.status)
    return report


def _target(report: HookReport, deployments: DeploymentService, settings: HookSettings) -> DeploymentTarget:
    target = deployments.target(report.deployment_id)
    report.target = target
    if target.function_name != settings.TARGET_FUNCTION_NAME:
        raise ValueError(
            f"deployment moves {target.function_name}, this hook guards {settings.TARGET_FUNCTION_NAME}"
        )
    return target


def run_pre_traffic(
    deployment_id: str,
    execution_id: str,
    *,
    settings: HookSettings,
    golden: GoldenSet,
    deployments: DeploymentService,
    invoker: FunctionInvoker,
) -> HookReport:
    """BeforeAllowTraffic: replay every golden request against the NEW version, before it gets traffic.

    Fails when /health is not ok, when any answer is not HTTP 200, breaks the API contract, or
    differs from the golden output (probability beyond the tolerance, decision, confidence).
    """
    api = settings.API_VERSION

    def run(report: HookReport) -> None:
        target = _target(report, deployments, settings)
        if golden.api_version != api or golden.model_version != settings.EXPECTED_MODEL_VERSION:
            raise ValueError(
                f"golden set is for {golden.api_version} {golden.model_version}, the deployment ships "
                f"{api} {settings.EXPECTED_MODEL_VERSION}"
            )
        tolerance = settings.tolerance(golden.tolerance)
        name, version = target.function_name, target.target_version
        health = check_health(invoker.invoke(name, version, proxy_event("GET", "/health")))
        report.problems.extend(f"version {version}: {p}" for p in health)
        report.checked += 1
        cases = golden.cases[: settings.MAX_CASES] if settings.MAX_CASES else golden.cases
        for case in cases:
            invocation = invoker.invoke(name, version, proxy_event("POST", f"/{api}/predict", case.request))
            problems = check_prediction(
                api,
                invocation,
                case,
                tolerance=tolerance,
                expected_model_version=settings.EXPECTED_MODEL_VERSION,
                v1_dates=settings.v1_dates,
            )
            report.problems.extend(f"version {version}, golden case {case.name}: {p}" for p in problems)
            report.checked += 1

    return _judge("BeforeAllowTraffic", deployment_id, execution_id, deployments, run)


def run_post_traffic(
    deployment_id: str,
    execution_id: str,
    *,
    settings: HookSettings,
    golden: GoldenSet,
    deployments: DeploymentService,
    invoker: FunctionInvoker,
) -> HookReport:
    """AfterAllowTraffic: a smoke test through the alias, now serving the new version.

    /health and the first golden request, answered correctly through the alias.
    """
    api = settings.API_VERSION

    def run(report: HookReport) -> None:
        target = _target(report, deployments, settings)
        tolerance = settings.tolerance(golden.tolerance)
        name, alias = target.function_name, target.alias
        report.problems.extend(check_health(invoker.invoke(name, alias, proxy_event("GET", "/health"))))
        report.checked += 1
        for case in golden.cases[:1]:
            invocation = invoker.invoke(name, alias, proxy_event("POST", f"/{api}/predict", case.request))
            problems = check_prediction(
                api,
                invocation,
                case,
                tolerance=tolerance,
                expected_model_version=settings.EXPECTED_MODEL_VERSION,
                v1_dates=settings.v1_dates,
            )
            report.problems.extend(f"alias {alias}, golden case {case.name}: {p}" for p in problems)
            report.checked += 1

    return _judge("AfterAllowTraffic", deployment_id, execution_id, deployments, run)

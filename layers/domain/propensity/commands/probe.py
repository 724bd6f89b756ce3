"""``propensity probe``: run the synthetic probe once against any deployment, from a terminal.

The same checks the scheduled probe runs (status, contract, golden outputs, latency), with the
golden sets of the registry's champions; handy against the local server (`make run`) or, with
``--api-key``, against a deployed stage while following RUNBOOK.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from propensity.cli import command
from propensity.policy.alarms import AlarmThresholds


def _configure(parser: argparse.ArgumentParser) -> None:
    defaults = AlarmThresholds()
    parser.add_argument(
        "--url", default="http://127.0.0.1:8000", help="the API's base URL (with its stage path)"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("PROPENSITY_API_KEY"),
        help="sent as x-api-key ($PROPENSITY_API_KEY)",
    )
    parser.add_argument("--registry", default=None, help="registry whose champions' golden sets to send")
    parser.add_argument("--cases", type=int, default=0, help="golden cases per API version (0: all)")
    parser.add_argument("--latency-budget-ms", type=float, default=defaults.probe_latency_budget_ms)


@command(
    "probe", "call /health, /v1/predict and /v2/predict with golden requests; report what fails", _configure
)
def _probe(args: argparse.Namespace) -> int:
    from propensity.constants import API_VERSIONS
    from propensity.probe.runner import run_probe
    from propensity.probe.settings import ProbeSettings
    from propensity.registry.factory import open_registry

    registry = open_registry(args.registry)
    goldens = {}
    with tempfile.TemporaryDirectory() as cache:
        for api in API_VERSIONS:
            version = registry.alias(api, "champion")
            if version is None:
                print(f"{api}: no champion in {registry.store.location}; not probed")
                continue
            goldens[api] = registry.load(api, version, Path(cache)).golden
    if not goldens:
        return 2
    largest = max(len(g.cases) for g in goldens.values())
    settings = ProbeSettings.model_validate(
        {
            "api_url": args.url,
            "apis": tuple(goldens),
            "cases_per_run": args.cases or min(largest, 50),
            "latency_budget_ms": args.latency_budget_ms,
        }
    )
    report = run_probe(settings, goldens, api_key=args.api_key)
    for result in report.results:
        mark = "ok  " if result.ok else "FAIL"
        version = f" model {result.served_model_version}" if result.served_model_version else ""
        print(
            f"{mark} {result.check:<6} {result.case:<20} HTTP {result.status or '-'} "
            f"{result.latency_ms or 0:7.1f} ms{version}"
        )
        for problem in result.problems:
            print(f"       {problem}")
    print(f"{report.requests} requests, {len(report.failures())} failed")
    return 0 if report.ok else 1

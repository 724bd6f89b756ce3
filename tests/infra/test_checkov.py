"""checkov on every synthesized template of the app: no failure without an inline reason.

checkov runs from its own venv (``make checkov`` builds ``.venv-checkov``; its pins conflict
with the project's). Findings are fixed where they arise (mostly ``LambdaFunction`` and the
``Hardening`` aspect) or skipped inline in the template's ``Metadata.checkov.skip`` with a
comment; a failure prints as ``CHECK resource (stack): what``, one per line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("service", "monitoring", "model_monitoring")


def checkov_binary() -> Path:
    """``$CHECKOV``, else ``.venv-checkov/bin/checkov``; never silently absent."""
    configured = os.environ.get("CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    found = shutil.which(configured)
    if found is None:
        pytest.fail(f"checkov not found at {configured}: run `make checkov` (builds .venv-checkov)")
    return Path(found)


def run_checkov(template: Path) -> dict[str, Any]:
    """checkov's JSON report of one CloudFormation template."""
    completed = subprocess.run(
        [
            str(checkov_binary()),
            "-f",
            str(template),
            "--framework",
            "cloudformation",
            "-o",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    # exit 1 means "failed checks"; anything else but 0 is checkov itself failing
    assert completed.returncode in (0, 1), completed.stderr[-2000:]
    report = json.loads(completed.stdout or "{}")
    if isinstance(report, list):  # one entry per framework
        report = next(r for r in report if r.get("check_type") == "cloudformation")
    return report


def failures(report: dict[str, Any], stack: str) -> list[str]:
    return sorted(
        f"{c['check_id']} {c['resource']} ({stack}): {c['check_name']}"
        for c in report.get("results", {}).get("failed_checks", [])
    )


@pytest.fixture(scope="module")
def reports(prod_app) -> dict[str, dict[str, Any]]:
    return {stack: run_checkov(prod_app.template_file(stack)) for stack in STACKS}


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_finds_no_unsuppressed_failure(reports, stack):
    # Given checkov's report on the synthesized template
    found = failures(reports[stack], stack)
    # Then every finding is fixed or skipped inline with its reason
    print("\n".join(found) or f"{stack}: no checkov failure")
    assert found == [], "\n" + "\n".join(found)
    assert reports[stack]["summary"]["passed"] > 0


@pytest.mark.parametrize("stack", STACKS)
def test_every_checkov_skip_carries_a_reason(prod_app, stack):
    # Given every inline checkov skip of the template
    template = json.loads(prod_app.template_file(stack).read_text())
    skips = [
        (logical_id, skip)
        for logical_id, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    # Then each names a check and says why in words
    assert skips, "the functions at least answer CKV_AWS_117 (no VPC) inline"
    for logical_id, skip in skips:
        assert skip["id"].startswith("CKV_"), logical_id
        assert len(skip.get("comment", "")) > 40, f"{logical_id} {skip['id']}: no reason given"


def test_checkov_catches_a_careless_template(tmp_path):
    # Given a function with no DLQ, no concurrency cap, plain environment and an unencrypted log group
    template = {
        "Resources": {
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "h.handler",
                    "Role": "arn:aws:iam::123456789012:role/r",
                    "Code": {"ZipFile": "def handler(e, c): pass"},
                    "Environment": {"Variables": {"A": "b"}},
                },
            },
        }
    }
    path = tmp_path / "careless.template.json"
    path.write_text(json.dumps(template))
    # When checkov scans it / Then the findings the project fixes centrally are reported
    found = {line.split()[0] for line in failures(run_checkov(path), "careless")}
    assert {"CKV_AWS_116", "CKV_AWS_115", "CKV_AWS_173", "CKV_AWS_158", "CKV_AWS_117"} <= found

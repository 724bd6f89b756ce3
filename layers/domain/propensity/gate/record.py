"""Keep the gate's verdict: a sealed, create-only ``gate`` record in the registry, and report files.

The verdict is never written into the manifest (the manifest is immutable and sealed at
registration); the promotion policy reads these records, verified, and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from propensity.constants import ApiVersion
from propensity.gate.markdown import render_markdown
from propensity.gate.report import GateReport
from propensity.registry.registry import Registry

GATE_KIND = "gate"


class GateVerdict(BaseModel):
    """What a gate record holds: the verdict, who it was judged against, and the report's summary."""

    passed: bool
    api_version: ApiVersion
    challenger_version: str
    champion_version: str | None
    at: datetime
    summary: dict[str, Any]
    record_name: str = ""  # filled in when read back: the record's unique name


def record_verdict(registry: Registry, report: GateReport, *, actor: str | None = None) -> GateVerdict:
    """Store the verdict of ``report`` as a new gate record of the challenger; returns it."""
    verdict = GateVerdict(
        passed=report.passed,
        api_version=report.api_version,
        challenger_version=report.challenger_version,
        champion_version=report.champion_version,
        at=report.created_at,
        summary=report.summary(),
    )
    registry.manifest(report.api_version, report.challenger_version)  # registered and intact
    record = registry.put_record(
        GATE_KIND,
        report.api_version,
        report.challenger_version,
        verdict.model_dump(mode="json", exclude={"record_name"}),
        actor=actor,
    )
    return verdict.model_copy(update={"record_name": record.name})


def verdicts(registry: Registry, api_version: ApiVersion, model_version: str) -> list[GateVerdict]:
    """Every verified gate verdict of a model version, oldest first."""
    found = []
    for record in registry.records(GATE_KIND, api_version, model_version):
        verdict = GateVerdict.model_validate({**record.body, "record_name": record.name})
        if verdict.challenger_version == model_version and verdict.api_version == api_version:
            found.append(verdict)
    return sorted(found, key=lambda v: (v.at, v.record_name))


def latest_verdict(
    registry: Registry, api_version: ApiVersion, model_version: str, *, against: str | None = None
) -> GateVerdict | None:
    """The most recent verdict (against ``against`` when given), or ``None`` if never gated."""
    candidates = [
        v
        for v in verdicts(registry, api_version, model_version)
        if against is None or v.champion_version == against
    ]
    return candidates[-1] if candidates else None


def write_reports(report: GateReport, out_dir: Path) -> tuple[Path, Path]:
    """``gate-<challenger>-<time>.json`` and ``.md`` in ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"gate-{report.challenger_version}-{report.created_at:%Y%m%dT%H%M%SZ}"
    json_path, markdown_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(report.model_dump_json(indent=2))
    markdown_path.write_text(render_markdown(report))
    return json_path, markdown_path

"""Keep the gate's verdict: in the challenger's manifest (the registry) and as report files."""

from __future__ import annotations

from pathlib import Path

from propensity.bundle.manifest import Manifest, ValidationRecord
from propensity.gate.markdown import render_markdown
from propensity.gate.report import GateReport
from propensity.registry.registry import Registry


def record_verdict(registry: Registry, report: GateReport) -> Manifest:
    """Append the verdict to the registered challenger's manifest and return the updated manifest."""
    manifest = registry.manifest(report.api_version, report.challenger_version)
    record = ValidationRecord(
        passed=report.passed,
        champion_version=report.champion_version,
        at=report.created_at,
        report=report.summary(),
    )
    updated = manifest.model_copy(update={"validation": [*manifest.validation, record]})
    registry.update_manifest(updated)
    return updated


def write_reports(report: GateReport, out_dir: Path) -> tuple[Path, Path]:
    """``gate-<challenger>-<time>.json`` and ``.md`` in ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"gate-{report.challenger_version}-{report.created_at:%Y%m%dT%H%M%SZ}"
    json_path, markdown_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(report.model_dump_json(indent=2))
    markdown_path.write_text(render_markdown(report))
    return json_path, markdown_path


def latest_validation(manifest: Manifest) -> ValidationRecord | None:
    """The most recent gate verdict of a model, or ``None`` if it was never gated."""
    return max(manifest.validation, key=lambda record: record.at, default=None)

"""Evaluation results in the archive bucket (or folder), kept for trending.

::

    evaluation/results/<api>/<model-version>/<window-start>.json   one GroupResult, rewritten
                                                                   while outcomes keep arriving
    evaluation/runs/<run-time>.json                                the RunSummary of each run
    evaluation/reports/<run-time>/report.md (+ PNG plots)          the report for people

A window's result is recomputed by every run that still looks back at it, so the stored
figure is always the one with the most outcomes; ``computed_at`` says when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from propensity.archive.store import ArchiveStore
from propensity.constants import ApiVersion
from propensity.evaluation.models import GroupResult, RunSummary

EVALUATION_PREFIX: Final[str] = "evaluation/"
RESULTS_PREFIX: Final[str] = f"{EVALUATION_PREFIX}results/"
RUNS_PREFIX: Final[str] = f"{EVALUATION_PREFIX}runs/"
REPORTS_PREFIX: Final[str] = f"{EVALUATION_PREFIX}reports/"


def run_tag(run_at: datetime) -> str:
    return f"{run_at:%Y-%m-%dT%H%M%SZ}"


def result_key(result: GroupResult) -> str:
    return f"{RESULTS_PREFIX}{result.api_version}/{result.model_version}/{result.window.label}.json"


def report_prefix(run_at: datetime) -> str:
    return f"{REPORTS_PREFIX}{run_tag(run_at)}/"


class ResultStore:
    """Read and write evaluation results through the archive's storage interface."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    def save(self, result: GroupResult) -> str:
        key = result_key(result)
        self.store.put(key, result.model_dump_json(indent=2).encode())
        return key

    def history(self, api_version: ApiVersion, model_version: str) -> list[GroupResult]:
        """Every stored window of one model, oldest first."""
        prefix = f"{RESULTS_PREFIX}{api_version}/{model_version}/"
        results = [GroupResult.model_validate_json(self.store.get(k)) for k in self.store.list(prefix)]
        return sorted(results, key=lambda r: r.window.start)

    def all_history(self) -> list[GroupResult]:
        """Every stored result of every model (for the trend plots), oldest first."""
        results = [
            GroupResult.model_validate_json(self.store.get(k)) for k in self.store.list(RESULTS_PREFIX)
        ]
        return sorted(results, key=lambda r: (r.window.start, r.api_version, r.model_version))

    def save_run(self, summary: RunSummary) -> str:
        key = f"{RUNS_PREFIX}{run_tag(summary.run_at)}.json"
        self.store.put(key, summary.model_dump_json(indent=2).encode())
        return key

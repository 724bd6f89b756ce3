"""The experiments section of the page: the latest A/B experiment of each API version.

The experiments live in the registry (``$PROPENSITY_REGISTRY``, else ``.local/registry``); each
is analysed on the page's archive with the same code as ``propensity experiment status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from propensity.archive.store import ArchiveStore, open_archive
from propensity.constants import API_VERSIONS
from propensity.dashboard.data import DashboardData
from propensity.dashboard.sections import DashboardSection, empty, register_section, table
from propensity.experiments.models import Experiment


@dataclass(frozen=True)
class ExperimentRow:
    """One experiment as the page lists it."""

    experiment: str
    api: str
    champion: str
    challenger: str
    status: str  # e.g. "running", "decided: challenger better", "stopped"
    detail: str  # e.g. "conversion +1.2 points [0.3, 2.1] at 62% of the planned sample"


# Fewer resamples than `experiment report`: the page shows the interval, the report refines it.
PAGE_RESAMPLES = 300


def latest_experiments() -> list[Experiment]:
    """The newest experiment (running or ended) of each API version in the registry."""
    from propensity.experiments import lifecycle
    from propensity.registry.factory import open_registry

    registry = open_registry()
    found = []
    for api in API_VERSIONS:
        every = lifecycle.experiments(registry, api)
        if every:
            found.append(every[-1])
    return found


def rows_for(experiments: list[Experiment], store: ArchiveStore, now: datetime) -> list[ExperimentRow]:
    """Each experiment analysed on ``store`` as of ``now``: status, decision and the primary test."""
    from propensity.experiments.analysis import PRIMARY_FIELD, analyse
    from propensity.labels.outcomes import load_outcomes

    book = load_outcomes(store)
    rows = []
    for experiment in experiments:
        analysis = analyse(store, experiment, book, now=now, resamples=PAGE_RESAMPLES)
        record = experiment.record
        primary = PRIMARY_FIELD[record.design.primary_metric]
        test = analysis.test
        detail = (
            f"{primary.replace('_', ' ')} {test.difference:+.4f} "
            f"[{_signed(test.ci_low)}, {_signed(test.ci_high)}], "
            f"always-valid p = {test.p_value:.4f}; {analysis.decision}"
            if test is not None and test.difference is not None
            else f"no outcomes yet; {analysis.decision}"
        )
        status = experiment.status if experiment.end is None else f"ended ({experiment.end.reason})"
        rows.append(
            ExperimentRow(
                experiment=experiment.experiment_id,
                api=record.api_version,
                champion=record.champion_version,
                challenger=f"{record.challenger_version} ({record.challenger_share:.0%} of customers)",
                status=f"{status}: {analysis.verdict.replace('_', ' ')}",
                detail=detail,
            )
        )
    return rows


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def experiment_rows(data: DashboardData) -> list[ExperimentRow]:
    """The experiments to show: the latest of each API version, judged on the page's archive."""
    experiments = latest_experiments()
    if not experiments:
        return []
    return rows_for(experiments, open_archive(data.archive), data.generated_at)


def render_experiments(data: DashboardData) -> str:
    rows = experiment_rows(data)
    if not rows:
        return empty("No experiment running.")
    return table(
        ["experiment", "API", "champion", "challenger", "status", "detail"],
        [[r.experiment, r.api, r.champion, r.challenger, r.status, r.detail] for r in rows],
        figure_ids=[f"experiment-{r.experiment}" for r in rows],
    )


register_section(DashboardSection("experiments", "Experiments", 90, render_experiments))

"""The experiments section of the page: filled by the A/B experiments feature.

:func:`experiment_rows` is the one function the experiments package replaces (or the
section is re-registered under the same id with its own renderer). Until experiments exist
it reports that none is running, so the page shows where they will appear.
"""

from __future__ import annotations

from dataclasses import dataclass

from propensity.dashboard.data import DashboardData
from propensity.dashboard.sections import DashboardSection, empty, register_section, table


@dataclass(frozen=True)
class ExperimentRow:
    """One experiment as the page lists it."""

    experiment: str
    api: str
    champion: str
    challenger: str
    status: str  # e.g. "running", "decided: challenger better", "stopped"
    detail: str  # e.g. "conversion +1.2 points [0.3, 2.1] at 62% of the planned sample"


def experiment_rows(data: DashboardData) -> list[ExperimentRow]:
    """The experiments to show (none until the experiments feature provides them)."""
    return []


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

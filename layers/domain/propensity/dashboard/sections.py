"""The page's sections, and the interface that lets other features add theirs.

A section is an id, a title, a place in the order and a function from the gathered
:class:`~propensity.dashboard.data.DashboardData` to an HTML fragment. Fragments escape every
value they show (:func:`html.escape`), since feature values, consumer names and alarm reasons
come from callers. To add a section (the A/B experiments do)::

    from propensity.dashboard.sections import DashboardSection, register_section
    register_section(DashboardSection("experiments", "Experiments", 90, render_experiments))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from propensity.dashboard import plots
from propensity.dashboard.data import PHASES, QUANTILES, DashboardData
from propensity.policy.drift import DriftThresholds

Render = Callable[[DashboardData], str]


@dataclass(frozen=True)
class DashboardSection:
    """One block of the page; ``render`` returns an HTML fragment (values escaped)."""

    id: str
    title: str
    order: int
    render: Render


_SECTIONS: dict[str, DashboardSection] = {}


def register_section(section: DashboardSection) -> None:
    """Add (or replace, by id) a section of the page."""
    _SECTIONS[section.id] = section


def sections() -> list[DashboardSection]:
    """Every registered section, in page order."""
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.id))


# Fragments ---------------------------------------------------------------------------------------


def figure(uri: str, alt: str) -> str:
    return f'<figure><img src="{uri}" alt="{escape(alt)}"></figure>'


def table(head: Sequence[str], rows: Sequence[Sequence[str]], *, figure_ids: Sequence[str] = ()) -> str:
    """A table; cells are escaped; ``figure_ids`` tags the first column's cells for tests and scripts."""
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = []
    for i, row in enumerate(rows):
        tag = f' data-figure="{escape(figure_ids[i])}"' if i < len(figure_ids) else ""
        body.append(f"<tr{tag}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "–" if value is None else format(value, fmt)


# Built-in sections ---------------------------------------------------------------------------------


def render_traffic(data: DashboardData) -> str:
    if not data.traffic:
        return empty("No requests archived in the window.")
    rows = []
    for api in sorted({t.api for t in data.traffic}):
        codes = ", ".join(f"{code}: {n:,}" for code, n in sorted(data.status_codes.get(api, {}).items()))
        synthetic = sum(t.synthetic_requests for t in data.traffic if t.api == api)
        predictions = sum(t.predictions for t in data.traffic if t.api == api)
        rows.append([api, f"{data.total_requests(api):,}", f"{predictions:,}", f"{synthetic:,}", codes])
    note = (
        "Status codes count archived requests (answered ones). "
        f"Unreadable archive lines: {data.unreadable_lines:,}; "
        f"unreadable objects: {len(data.unreadable_objects)}."
    )
    damaged = "".join(f"<li>{escape(o)}</li>" for o in data.unreadable_objects[:10])
    return (
        figure(plots.traffic_plot(data.traffic), "requests per hour by API version")
        + table(
            ["API", "requests", "predictions", "synthetic", "status codes"],
            rows,
            figure_ids=[f"requests-{r[0]}" for r in rows],
        )
        + f"<p>{escape(note)}</p>"
        + (f'<ul class="error">{damaged}</ul>' if damaged else "")
    )


def render_latency(data: DashboardData) -> str:
    if not data.latency:
        return empty("No latency recorded in the window.")
    rows = [
        [api, phase, *(_num(phases[phase][q], ".2f") for q in QUANTILES)]
        for api, phases in sorted(data.latency.items())
        for phase in PHASES
    ]
    return figure(
        plots.latency_plot({str(k): v for k, v in data.latency.items()}), "latency by phase, p50 p95 p99"
    ) + table(
        ["API", "phase", *(f"p{q} ms" for q in QUANTILES)],
        rows,
        figure_ids=[f"latency-{r[0]}-{r[1]}" for r in rows],
    )


def render_predictions(data: DashboardData) -> str:
    if not data.predictions:
        return empty("No predictions in the window.")
    rows = []
    for api, mix in sorted(data.predictions.items()):
        bands = ", ".join(f"{band} {n:,}" for band, n in sorted(mix.confidence.items()))
        yes_rate = "–" if mix.yes_rate is None else f"{100 * mix.yes_rate:.1f}%"
        rows.append([api, f"{mix.predictions:,}", yes_rate, _num(mix.mean_probability), bands])
    hourly = {str(api): mix.hourly_mean for api, mix in data.predictions.items()}
    return figure(plots.probability_plot(hourly), "mean probability per hour") + table(
        ["API", "predictions", "yes", "mean probability", "confidence"],
        rows,
        figure_ids=[f"predictions-{r[0]}" for r in rows],
    )


def render_psi(data: DashboardData) -> str:
    if not data.psi:
        return empty("No drift results in the window: run `propensity drift`.")
    t = DriftThresholds()
    parts = []
    for api, grid in sorted(data.psi.items()):
        judged = [v for row in grid.values for v in row if v is not None]
        worst = max(judged) if judged else None
        parts.append(
            f"<h3>{escape(api)} (model {escape(', '.join(grid.model_versions))})</h3>"
            + figure(plots.psi_heatmap(grid, t.psi_warning, t.psi_info), f"{api} PSI per feature and hour")
            + table(
                ["API", "hours", "features", "largest PSI"],
                [[api, str(len(grid.hours)), str(len(grid.features)), _num(worst)]],
                figure_ids=[f"psi-{api}"],
            )
        )
    return (
        "".join(parts)
        + f"<p>Warning above {t.psi_warning:g}, info above {t.psi_info:g}; blank: hour not judged.</p>"
    )


def render_evaluation(data: DashboardData) -> str:
    if not data.evaluation:
        return empty("No evaluation results yet: run `propensity evaluate`.")
    rows = [
        [
            p.api,
            p.model_version[:12],
            p.window,
            f"{p.labelled:,} ({100 * p.coverage:.0f}%{' thin' if p.thin else ''})",
            _num(p.f1),
            _num(p.f1_estimated),
            _num(p.conversion),
            _num(p.ece),
        ]
        for p in sorted(data.evaluation, key=lambda p: (p.api, p.start))
    ]
    return figure(plots.evaluation_plot(data.evaluation), "F1 per week, realised and estimated") + table(
        ["API", "model", "week", "labelled", "F1", "F1 est.", "conversion", "ECE"],
        rows,
        figure_ids=[f"evaluation-{r[0]}-{r[2]}" for r in rows],
    )


def render_shadow(data: DashboardData) -> str:
    if not data.shadow:
        return empty("No shadow records in the last 7 days (no challenger, or `propensity shadow` not run).")
    rows = [
        [
            p.api,
            f"{p.day}",
            f"{p.champion[:8]} / {p.challenger[:8]}",
            f"{p.rows:,}",
            f"{100 * p.agreement:.1f}%",
            f"{p.mean_difference:+.4f}",
        ]
        for p in data.shadow
    ]
    return table(
        ["API", "day", "champion / challenger", "rows", "agreement", "mean difference"],
        rows,
        figure_ids=[f"shadow-{r[0]}-{r[1]}" for r in rows],
    )


def render_v1_usage(data: DashboardData) -> str:
    if not data.v1_usage:
        return empty("No v1 calls in the window.")
    rows = [
        [u.consumer, f"{u.calls:,}", f"{100 * u.share:.1f}%", f"{u.last_seen:%Y-%m-%d %H:%M} UTC"]
        for u in data.v1_usage
    ]
    per_day = {u.consumer: dict(u.calls_by_day) for u in data.v1_usage}
    return figure(plots.usage_plot(per_day), "v1 calls per consumer and day") + table(
        ["consumer", "calls", "share", "last seen"], rows, figure_ids=[f"v1-{r[0]}" for r in rows]
    )


def render_alerts(data: DashboardData) -> str:
    active = (
        table(
            ["alarm", "tier", "since", "reason"],
            [
                [a.name, a.tier, f"{a.since:%Y-%m-%d %H:%M} UTC" if a.since else "–", a.reason]
                for a in data.active_alerts
            ],
            figure_ids=[f"alert-{a.name}" for a in data.active_alerts],
        )
        if data.active_alerts
        else empty("No alarm is in ALARM.")
    )
    recent = (
        "<h3>State changes, last 24 hours</h3>"
        + table(
            ["at", "alarm", "change", "delivered to"],
            [
                [
                    f"{e.at:%m-%d %H:%M}",
                    e.alarm,
                    f"{e.old_state} → {e.new_state}",
                    ", ".join(f"{k}: {v[:40]}" for k, v in e.deliveries.items()),
                ]
                for e in data.recent_alerts
            ],
        )
        if data.recent_alerts
        else ""
    )
    return (
        f'<p class="count" data-figure="active-alerts">{len(data.active_alerts)} active</p>' + active + recent
    )


BUILT_IN: Final[tuple[DashboardSection, ...]] = (
    DashboardSection("alerts", "Active alerts", 10, render_alerts),
    DashboardSection("traffic", "Traffic and status codes", 20, render_traffic),
    DashboardSection("latency", "Latency by phase", 30, render_latency),
    DashboardSection("predictions", "Prediction mix and mean probability", 40, render_predictions),
    DashboardSection("drift", "Input drift: PSI per feature and hour", 50, render_psi),
    DashboardSection("evaluation", "Evaluation over the weeks", 60, render_evaluation),
    DashboardSection("shadow", "Shadow agreement", 70, render_shadow),
    DashboardSection("v1-usage", "v1 usage by consumer", 80, render_v1_usage),
)
for _section in BUILT_IN:
    register_section(_section)

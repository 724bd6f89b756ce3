"""The drift report for people: one self-contained HTML file with reference-vs-current plots.

Per model version: the verdict (alerts), the prediction distribution against the
reference (yes rate, mean probability, uncertain share, confidence bands, score
histogram), and per feature the PSI, its status, unknown and invalid values, and a bar
chart of reference versus current shares per bin. Plots are PNGs drawn with matplotlib
(imported only here, lazily: the drift function does not ship it) and embedded as data URIs.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from propensity.drift.psi import shares
from propensity.drift.results import FeatureDrift, GroupDrift, WindowResult
from propensity.drift.state import DailyResult
from propensity.monitoring.reference import SCORE_EDGES

STATUS_COLOURS = {"ok": "#2e7d32", "info": "#f9a825", "warning": "#c62828", "not_judged": "#757575"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.status{color:#fff;padding:2px 6px;border-radius:3px;font-size:90%}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0}
.alert-warning{color:#c62828}.alert-info{color:#a67c00}.note{color:#555}
"""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _status(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#757575")
    return f'<span class="status" style="background:{colour}">{html.escape(status)}</span>'


def bar_png(
    title: str,
    labels: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    names: tuple[str, str] = ("reference", "current"),
) -> str | None:
    """A grouped bar chart as a base64 PNG, or ``None`` when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    positions = list(range(len(labels)))
    width = 0.4
    figure, axes = plt.subplots(figsize=(max(4.0, 0.45 * len(labels) + 2), 2.8), dpi=90)
    axes.bar([p - width / 2 for p in positions], reference, width, label=names[0], color="#90a4ae")
    axes.bar([p + width / 2 for p in positions], current, width, label=names[1], color="#1e88e5")
    axes.set_xticks(positions)
    axes.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    axes.set_ylabel("share")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def feature_plot(feature: FeatureDrift) -> str | None:
    """Reference vs current shares per bin of one feature (base64 PNG)."""
    title = f"{feature.name}: PSI {_num(feature.psi)}"
    return bar_png(title, feature.labels, feature.reference, shares(feature.counts))


def score_plot(group: GroupDrift) -> str | None:
    """Reference vs current score histogram (base64 PNG)."""
    prediction = group.prediction
    if not prediction.reference_score or not prediction.events:
        return None
    edges = [0.0, *SCORE_EDGES, 1.0]
    labels = [f"{a:.2f}-{b:.2f}" for a, b in pairwise(edges)]
    title = f"probability: score PSI {_num(prediction.score_psi)}"
    return bar_png(title, labels, prediction.reference_score, shares(prediction.score_counts))


def figure_html(png: str | None, caption: str) -> str:
    if png is None:
        return ""
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _prediction_table(group: GroupDrift) -> str:
    p = group.prediction
    shift = p.yes_rate_shift_points
    rows = [
        (
            "yes rate",
            _pct(p.yes_rate),
            _pct(p.reference_yes_rate),
            "n/a" if shift is None else f"{shift:+.1f} points",
        ),
        ("mean probability", _num(p.mean_probability), _num(p.reference_mean_probability), ""),
        ("uncertain share (near threshold)", _pct(p.uncertain_share), _pct(p.reference_uncertain_share), ""),
    ]
    for band, share in (p.confidence_mix or {}).items():
        rows.append((f"confidence {band}", _pct(share), _pct(p.reference_confidence_mix.get(band)), ""))
    rows.append(("score PSI", _num(p.score_psi), "", ""))
    body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td><td>{d}</td></tr>" for a, b, c, d in rows)
    return (
        f"<table><tr><th>prediction</th><th>current</th><th>reference</th><th>change</th></tr>{body}</table>"
    )


def _feature_table(group: GroupDrift) -> str:
    rows = []
    for f in sorted(group.features, key=lambda f: -(f.psi or 0.0)):
        unseen = ", ".join(f"{html.escape(k)} ({v})" for k, v in list(f.unseen_values.items())[:5])
        rows.append(
            f"<tr><td>{html.escape(f.name)}</td><td>{f.kind}</td><td>{_num(f.psi)}</td><td>{_status(f.status)}</td>"
            f"<td>{f.unseen if f.kind != 'numeric' else ''}</td><td>{f.invalid}</td><td>{unseen}</td></tr>"
        )
    head = (
        "<tr><th>feature</th><th>kind</th><th>PSI</th><th>status</th><th>unknown values</th>"
        "<th>invalid values</th><th>most frequent unknown</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _group_section(group: GroupDrift, plots: bool) -> str:
    parts = [f"<h2>{html.escape(group.api_version)} · model {html.escape(group.model_version)}</h2>"]
    parts.append(f"<p>{group.events} events{' · judged' if group.judged else ''}</p>")
    if group.note:
        parts.append(f'<p class="note">{html.escape(group.note)}</p>')
    if group.alerts:
        items = "".join(
            f'<li class="alert-{a.tier}">{a.tier}: {html.escape(a.message)}</li>' for a in group.alerts
        )
        parts.append(f"<ul>{items}</ul>")
    elif group.judged:
        parts.append('<p class="alert-ok">No drift alert for this window.</p>')
    if group.warnings:
        named = ", ".join(f"{html.escape(k)} ({v})" for k, v in sorted(group.warnings.items()))
        parts.append(f"<p>Events with warnings: {group.events_with_warnings}; fields named: {named}</p>")
    parts.append(_prediction_table(group))
    parts.append(_feature_table(group))
    if plots:
        figures = [figure_html(score_plot(group), "score distribution")]
        figures += [
            figure_html(feature_plot(f), f.name)
            for f in sorted(group.features, key=lambda f: -(f.psi or 0.0))
        ]
        if any(figures):
            parts.append(f'<div class="grid">{"".join(figures)}</div>')
        else:
            parts.append('<p class="note">Plots need matplotlib (pip install -r requirements/train.txt).</p>')
    return "\n".join(parts)


def render_html(result: WindowResult | DailyResult, *, title: str | None = None, plots: bool = True) -> str:
    """The report for a window (or a day) as one HTML document."""
    if isinstance(result, WindowResult):
        heading = title or f"Drift {result.start:%Y-%m-%d %H:%M} to {result.end:%H:%M} UTC"
        thresholds: Any = result.thresholds
        meta = (
            f"{result.events} events from {len(result.sources)} archive objects; {result.bad_lines} bad lines"
        )
    else:
        heading = title or f"Drift {result.day:%Y-%m-%d} (daily aggregate of {len(result.hours)} hours)"
        thresholds = None
        meta = f"{result.events} events; {result.bad_lines} bad lines"
    policy = (
        f"<p class='note'>Policy: PSI warning over {thresholds.psi_warning}, info over {thresholds.psi_info} "
        f"(info alert from {thresholds.psi_info_feature_count} features); yes rate warning beyond "
        f"{thresholds.yes_rate_warning_points} points; windows under {thresholds.min_events_per_window} "
        "events are not judged.</p>"
        if thresholds is not None
        else ""
    )
    sections = (
        "\n".join(_group_section(g, plots) for g in result.groups) or "<p>No events in this window.</p>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(heading)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(heading)}</h1><p>{meta}</p>{policy}"
        f"{sections}</body></html>"
    )

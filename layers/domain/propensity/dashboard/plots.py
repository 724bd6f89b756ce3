"""The page's plots, drawn with matplotlib (headless) and inlined as PNG data URIs.

Inline images keep the page one self-contained file: it opens from disk, from a CI artefact
or as an e-mail attachment with nothing else to fetch.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from propensity.dashboard.data import PHASES, QUANTILES, EvaluationPoint, HourTraffic, PsiGrid

WIDTH_IN = 6.4
DPI = 100


def data_uri(figure: Any) -> str:
    """The figure as ``data:image/png;base64,...`` (and closed, so pages never leak figures)."""
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _hours_axis(axis: Any, hours: Sequence[datetime]) -> None:
    step = max(1, len(hours) // 8)
    axis.set_xticks(range(0, len(hours), step))
    axis.set_xticklabels([f"{h:%d %H}h" for h in hours][::step], rotation=30, ha="right", fontsize=8)


def traffic_plot(traffic: list[HourTraffic]) -> str:
    hours = sorted({t.hour for t in traffic})
    figure, axis = plt.subplots(figsize=(WIDTH_IN, 2.6))
    bottom = np.zeros(len(hours))
    for api in sorted({t.api for t in traffic}):
        counts = {t.hour: t.requests for t in traffic if t.api == api}
        values = np.array([counts.get(h, 0) for h in hours], dtype=float)
        axis.bar(range(len(hours)), values, bottom=bottom, label=f"{api} requests")
        bottom += values
    synthetic = np.array(
        [sum(t.synthetic_requests for t in traffic if t.hour == h) for h in hours], dtype=float
    )
    if synthetic.any():
        axis.plot(range(len(hours)), synthetic, "k.--", label="synthetic (probe)")
    _hours_axis(axis, hours)
    axis.set_ylabel("requests per hour")
    axis.legend(fontsize=8)
    return data_uri(figure)


def latency_plot(latency: Mapping[str, dict[str, dict[int, float]]]) -> str:
    figure, axes = plt.subplots(1, len(latency), figsize=(WIDTH_IN, 2.6), squeeze=False, sharey=True)
    for axis, (api, phases) in zip(axes[0], sorted(latency.items()), strict=True):
        x = np.arange(len(PHASES))
        for i, q in enumerate(QUANTILES):
            # Floored at 1 µs so a phase that took "0 ms" still shows on the log scale.
            heights = [max(phases.get(p, {}).get(q, 0.0), 0.001) for p in PHASES]
            axis.bar(x + (i - 1) * 0.27, heights, 0.27, label=f"p{q}")
        axis.set_xticks(x)
        axis.set_xticklabels([p[:7] for p in PHASES], rotation=30, ha="right", fontsize=8)
        axis.set_title(api, fontsize=9)
        axis.set_yscale("log")
    axes[0][0].set_ylabel("ms (log scale)")
    axes[0][0].legend(fontsize=7)
    return data_uri(figure)


def probability_plot(hourly: Mapping[str, dict[datetime, float]]) -> str:
    figure, axis = plt.subplots(figsize=(WIDTH_IN, 2.4))
    for api, points in sorted(hourly.items()):
        hours = sorted(points)
        axis.plot(_dates(hours), np.array([points[h] for h in hours]), marker="o", ms=3, label=api)
    axis.xaxis_date()
    axis.set_ylabel("mean probability")
    axis.set_ylim(bottom=0)
    axis.legend(fontsize=8)
    figure.autofmt_xdate()
    return data_uri(figure)


def psi_heatmap(grid: PsiGrid, warning: float, info: float) -> str:
    """Features by hours; the colour saturates at 3x the warning bound so moderate drift stays
    visible next to a feature that drifted off the scale (each cell also prints its value)."""
    values = np.array([[np.nan if v is None else v for v in row] for row in grid.values], dtype=float)
    height = max(2.4, 0.24 * len(grid.features) + 1.0)
    figure, axis = plt.subplots(figsize=(WIDTH_IN, height))
    top = 3 * warning
    image = axis.imshow(values, aspect="auto", cmap="YlOrRd", vmin=0, vmax=top)
    if values.size <= 24 * 20:
        for (row, column), value in np.ndenumerate(values):
            if not np.isnan(value):
                colour = "white" if value > 0.6 * top else "black"
                axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=5, color=colour)
    axis.set_yticks(range(len(grid.features)))
    axis.set_yticklabels(grid.features, fontsize=7)
    _hours_axis(axis, grid.hours)
    bar = figure.colorbar(image, ax=axis, fraction=0.04, extend="max")
    bar.ax.axhline(info, color="k", lw=0.8, ls=":")
    bar.ax.axhline(warning, color="k", lw=1.2)
    bar.set_label("PSI (lines: info, warning)", fontsize=8)
    return data_uri(figure)


def evaluation_plot(points: list[EvaluationPoint]) -> str:
    figure, axis = plt.subplots(figsize=(WIDTH_IN, 2.6))
    for (api, model), rows in sorted(_by_model(points).items()):
        label = f"{api} {model[:8]}"
        x = _dates([p.start for p in rows])
        axis.plot(x, _values([p.f1 for p in rows]), marker="o", label=f"{label} F1")
        axis.plot(
            x,
            _values([p.f1_estimated for p in rows]),
            ls="--",
            marker=".",
            label=f"{label} F1 est.",
        )
    axis.xaxis_date()
    axis.set_ylabel("F1 per week")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7)
    figure.autofmt_xdate()
    return data_uri(figure)


def _dates(moments: Sequence[datetime]) -> Any:
    return cast(Any, mdates).date2num(list(moments))  # untyped in matplotlib's stubs


def _values(values: Sequence[float | None]) -> Any:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _by_model(points: list[EvaluationPoint]) -> dict[tuple[str, str], list[EvaluationPoint]]:
    grouped: dict[tuple[str, str], list[EvaluationPoint]] = {}
    for point in sorted(points, key=lambda p: p.start):
        grouped.setdefault((point.api, point.model_version), []).append(point)
    return grouped


def usage_plot(usage: dict[str, dict[Any, int]]) -> str:
    days = sorted({d for per_day in usage.values() for d in per_day})
    figure, axis = plt.subplots(figsize=(WIDTH_IN, 2.4))
    bottom = np.zeros(len(days))
    for consumer, per_day in sorted(usage.items()):
        values = np.array([per_day.get(d, 0) for d in days], dtype=float)
        axis.bar([f"{d:%m-%d}" for d in days], values, bottom=bottom, label=consumer)
        bottom += values
    axis.set_ylabel("v1 calls per day")
    axis.legend(fontsize=7)
    return data_uri(figure)

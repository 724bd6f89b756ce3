"""PNG plots for the evaluation report. matplotlib is imported lazily: the Lambda runtime
does not ship it, and there the report is written without plots (and says so)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from propensity.evaluation.models import GroupResult

RELIABILITY_PNG = "reliability.png"
TREND_PNG = "metrics-over-time.png"
# Bins with fewer outcomes than this are left out of the plot (their rate is mostly noise).
MIN_BIN_ROWS = 30


def _pyplot() -> Any | None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on servers and in CI
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plots_available() -> bool:
    return _pyplot() is not None


def _png(figure: Any, plt: Any) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def reliability_png(results: Sequence[GroupResult], min_bin_rows: int = MIN_BIN_ROWS) -> bytes | None:
    """Observed subscription rate against mean probability per bin: one line per window with
    outcomes (older windows lighter), and the manifest's holdout as the dashed reference."""
    plt = _pyplot()
    drawable = [r for r in results if r.reliability_fine]
    if plt is None or not drawable:
        return None
    models = sorted({(r.api_version, r.model_version) for r in drawable})
    figure, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 5.5), squeeze=False)
    for axis, (api, model) in zip(axes[0], models, strict=True):
        mine = sorted(
            (r for r in drawable if (r.api_version, r.model_version) == (api, model)),
            key=lambda r: r.window.start,
        )
        top = 0.05
        baseline = mine[-1].baseline
        bins = [b for b in baseline.reliability if b.count >= min_bin_rows] if baseline else []
        if baseline is not None and bins:
            xs = [b.mean_probability or 0.0 for b in bins]
            ys = [b.observed_rate or 0.0 for b in bins]
            axis.plot(
                xs,
                ys,
                linestyle="--",
                marker="s",
                color="black",
                label=f"manifest holdout (ECE {baseline.ece:.3f})",
            )
            top = max(top, *xs, *ys)
        colours = plt.get_cmap("viridis")
        for i, result in enumerate(mine):
            bins = [b for b in result.reliability_fine if b.count >= min_bin_rows]
            if not bins:
                continue
            xs = [b.mean_probability or 0.0 for b in bins]
            ys = [b.observed_rate or 0.0 for b in bins]
            top = max(top, *xs, *ys)
            thin = ", thin coverage" if result.coverage.thin else ""
            ece = result.realised.ece if result.realised else float("nan")
            axis.plot(
                xs,
                ys,
                marker="o",
                color=colours(i / max(1, len(mine) - 1)),
                label=f"week of {result.window.label} (ECE {ece:.3f}{thin})",
            )
        limit = min(1.0, top * 1.1 + 0.02)
        axis.plot([0, limit], [0, limit], color="grey", linewidth=0.8, label="perfectly calibrated")
        axis.set_xlim(0, limit)
        axis.set_ylim(0, limit)
        axis.set_xlabel("mean predicted probability (bin)")
        axis.set_ylabel("observed subscription rate")
        axis.set_title(f"Reliability, {api} {model}")
        axis.legend(fontsize=7, loc="lower right")  # drifting windows sit above the diagonal
    return _png(figure, plt)


def trend_png(history: Sequence[GroupResult]) -> bytes | None:
    """Realised F1 next to CBPE-estimated F1, conversion and ECE per window, per model."""
    plt = _pyplot()
    if plt is None or not history:
        return None
    figure, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    models = sorted({(r.api_version, r.model_version) for r in history})
    for api, model in models:
        mine = [r for r in history if (r.api_version, r.model_version) == (api, model)]
        x = [r.window.start for r in mine]
        name = f"{api} {model}"
        realised = [r.realised.f1 if r.realised else None for r in mine]
        line = axes[0].plot(
            x, [v if v is not None else float("nan") for v in realised], marker="o", label=f"{name} realised"
        )
        axes[0].plot(
            x,
            [r.estimated.f1 if r.estimated.f1 is not None else float("nan") for r in mine],
            marker="x",
            linestyle="--",
            color=line[0].get_color(),
            label=f"{name} estimated (CBPE)",
        )
        thin = [(r.window.start, r.realised.f1) for r in mine if r.realised and r.coverage.thin]
        if thin:
            axes[0].scatter(
                [t for t, _ in thin],
                [v for _, v in thin],
                facecolors="none",
                edgecolors="red",
                s=120,
                label=f"{name} thin label coverage",
            )
        axes[1].plot(
            x,
            [
                r.business.conversion_rate
                if r.business and r.business.conversion_rate is not None
                else float("nan")
                for r in mine
            ],
            marker="o",
            label=f"{name} realised",
        )
        axes[1].plot(
            x,
            [
                r.estimated.conversion_rate if r.estimated.conversion_rate is not None else float("nan")
                for r in mine
            ],
            marker="x",
            linestyle="--",
            label=f"{name} estimated",
        )
        axes[2].plot(
            x, [r.realised.ece if r.realised else float("nan") for r in mine], marker="o", label=name
        )
        baseline = next((r.signals.baseline_f1 for r in mine if r.signals.baseline_f1 is not None), None)
        if baseline is not None:
            axes[0].axhline(baseline, color=line[0].get_color(), linestyle=":", label=f"{name} manifest F1")
    axes[0].set_ylabel("F1")
    axes[1].set_ylabel('conversion of "yes"')
    axes[2].set_ylabel("ECE")
    axes[2].set_xlabel("window start")
    axes[0].set_title("Evaluation over time")
    for axis in axes:
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    # Fit the axis to the windows: matplotlib's default range for a single date spans years.
    import matplotlib.dates as mdates

    first = min(r.window.start for r in history)
    last = max(r.window.end for r in history)
    pad = (last - first) / 20 or (history[0].window.end - history[0].window.start) / 2
    axes[2].set_xlim(first - pad, last + pad)
    axes[2].xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=10))  # type: ignore[no-untyped-call]
    axes[2].xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    figure.autofmt_xdate()
    return _png(figure, plt)

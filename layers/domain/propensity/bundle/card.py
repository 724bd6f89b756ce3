"""The human-readable model card (Markdown) with its calibration and segment plots (PNG)."""

from __future__ import annotations

import io

from propensity.bundle.manifest import CARD_FILE, Backtest, Manifest, SplitMetrics
from propensity.monitoring.metrics import ClassificationMetrics

CALIBRATION_PNG = "calibration.png"
SEGMENTS_PNG = "segments.png"
BACKTEST_PNG = "backtest.png"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _metrics_row(name: str, m: ClassificationMetrics) -> str:
    return (
        f"| {name} | {m.n} | {m.base_rate:.3f} | {_fmt(m.roc_auc)} | {_fmt(m.pr_auc)} | {m.f1:.3f} | "
        f"{m.precision:.3f} | {m.recall:.3f} | {m.brier:.4f} | {m.ece:.4f} |"
    )


HEADER = (
    "| split | rows | base rate | ROC AUC | PR AUC | F1 | precision | recall | Brier | ECE |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def _segment_table(split: SplitMetrics) -> str:
    lines = [
        "| segment | group | rows | positives | ROC AUC | F1 | ECE | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family, rows in split.segments.items():
        for row in rows:
            m = row.metrics
            note = "too small to judge" if row.small else ""
            lines.append(
                f"| {family} | {row.label} | {m.n} | {m.positives} | {_fmt(m.roc_auc)} | "
                f"{m.f1:.3f} | {m.ece:.4f} | {note} |"
            )
    return "\n".join(lines)


def _backtest_table(backtest: Backtest) -> str:
    lines = [
        "| test month | rows | yes rate | ROC AUC | PR AUC | F1 | threshold | Brier | "
        "mean predicted - observed | ECE | ECE noise floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in backtest.months:
        lines.append(
            f"| {m.month} | {m.rows} | {m.yes_rate:.3f} | {_fmt(m.roc_auc)} | {_fmt(m.pr_auc)} | "
            f"{m.f1:.3f} | {m.threshold:.2f} | {m.brier:.4f} | {m.bias:+.3f} | {m.ece:.3f} | "
            f"{m.ece_noise_floor:.3f} |"
        )
    mean = backtest.mean
    lines.append(
        f"| **mean** | | | **{_fmt(mean('roc_auc'))}** | {_fmt(mean('pr_auc'))} | {_fmt(mean('f1'))} | | "
        f"{_fmt(mean('brier'))} | {mean('bias') or 0:+.3f} | {_fmt(mean('ece'))} | "
        f"{_fmt(mean('ece_noise_floor'))} |"
    )
    return "\n".join(lines)


def _backtest_section(manifest: Manifest) -> str:
    backtest = manifest.backtest
    if backtest is None:
        return (
            "## Backtest over time\nNo backtest recorded (trained with `--backtest-months 0`): "
            "this model cannot be judged on time by the gate.\n"
        )
    return f"""## Backtest over time (the primary figure)
Rolling origin: for each of the last {len(backtest.months)} months M, a model is trained with this
card's protocol and config on every month before M only (calibration and threshold chosen
inside those months) and tested on M. Months come from the file order
(`propensity.data.months`). Config `{backtest.config_name}` (`{backtest.config_sha256[:12]}`),
{backtest.seconds:.0f} s. The ECE noise floor is the ECE a perfectly calibrated model would show
on that many rows: a month's ECE near it is noise, not miscalibration.

{_backtest_table(backtest)}

![backtest]({BACKTEST_PNG})
"""


def _selection_section(manifest: Manifest) -> str:
    """The backtest figures that chose the committed default config (if this is one)."""
    from propensity.training.selection import selection_for

    chosen = selection_for(manifest.api_version, manifest.training.config_sha256)
    if chosen is None:
        return ""
    lines = [
        "## Why this configuration",
        chosen.reason,
        "",
        "| candidate config | excluded inputs | calibration | backtest mean ROC AUC | mean bias "
        "| months better |",
        "|---|---|---|---|---|---|",
    ]
    for c in chosen.candidates:
        lines.append(
            f"| {c.name}{' (chosen)' if c.name == chosen.chosen else ''} | "
            f"{', '.join(c.excluded) or 'none'} | "
            f"{c.calibration} | {c.mean_roc_auc:.3f} | {c.mean_bias:+.3f} | {c.months_better} |"
        )
    return "\n".join(lines) + "\n"


def _backtest_plot(backtest: Backtest) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    months = [m.month for m in backtest.months]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    top.plot(months, [m.roc_auc or float("nan") for m in backtest.months], marker="o", label="ROC AUC")
    top.plot(months, [m.pr_auc or float("nan") for m in backtest.months], marker="s", label="PR AUC")
    top.axhline(0.5, color="grey", linestyle=":")
    top.set_ylim(0.3, 1.0)
    top.legend()
    top.set_title("Backtest: trained on the months before, tested on each month")
    bottom.bar(
        months, [m.bias for m in backtest.months], color="indianred", label="mean predicted - observed"
    )
    bottom.plot(months, [m.ece for m in backtest.months], marker="o", color="black", label="ECE")
    bottom.plot(
        months, [m.ece_noise_floor for m in backtest.months], linestyle="--", color="grey", label="ECE floor"
    )
    bottom.axhline(0.0, color="grey")
    bottom.legend(fontsize="small")
    bottom.tick_params(axis="x", rotation=45)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _plots(manifest: Manifest) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: dict[str, bytes] = {}
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for name, split in manifest.metrics.items():
        points = [(b.mean_probability or 0.0, b.observed_rate or 0.0) for b in split.reliability if b.count]
        axis.plot([p for p, _ in points], [o for _, o in points], marker="o", label=name)
    axis.set_xlabel("mean predicted probability")
    axis.set_ylabel("observed subscription rate")
    axis.set_title(f"Reliability, {manifest.model_version}")
    axis.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    plt.close(figure)
    files[CALIBRATION_PNG] = buffer.getvalue()

    split = manifest.gate_metrics
    labels, values = [], []
    for family, rows in split.segments.items():
        for row in rows:
            labels.append(f"{family}:{row.label}")
            values.append(row.metrics.roc_auc or 0.0)
    figure, axis = plt.subplots(figsize=(7, 0.25 * len(labels) + 1))
    axis.barh(labels, values, color="steelblue")
    axis.axvline(split.overall.roc_auc or 0.0, color="black", linestyle="--", label="overall")
    axis.set_xlim(0.5, 1.0)
    axis.set_xlabel(f"ROC AUC ({split.method} holdout)")
    axis.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    plt.close(figure)
    files[SEGMENTS_PNG] = buffer.getvalue()
    if manifest.backtest is not None:
        files[BACKTEST_PNG] = _backtest_plot(manifest.backtest)
    return files


def render_card(manifest: Manifest) -> dict[str, bytes]:
    """MODEL_CARD.md and its plots, as file name -> bytes."""
    strat = manifest.metrics["stratified"]
    timed = manifest.metrics.get("time_ordered")
    rows = [_metrics_row("stratified random (gate)", strat.overall)]
    if timed is not None:
        rows.append(_metrics_row("time-ordered (last 20%)", timed.overall))
    t = manifest.training
    text = f"""# Model card: {manifest.model_version}

Term-deposit subscription propensity for API schema **{manifest.api_version}**.
Gradient-boosted trees (scikit-learn HistGradientBoosting, exported to numpy for serving),
Platt-calibrated. Created {manifest.created_at:%Y-%m-%d %H:%M} UTC in {t.seconds:.0f} s.

## Intended use
Rank customers for a term-deposit call campaign. Not for credit decisions. Inputs are known
before the call; `duration` is excluded because it is only known after the call (label leak).

## Data
UCI Bank Marketing `bank-full.csv` ({t.data_rows} calls, May 2008 to Nov 2010), SHA-256
`{t.data_sha256}`. CC BY 4.0, Moro, Cortez and Rita (2014).

{_backtest_section(manifest)}
## Training configuration
Config `{(t.config or {}).get("name", "none recorded")}`, SHA-256 `{t.config_sha256 or "n/a"}`;
inputs excluded from the model (still validated and archived):
{", ".join(t.excluded_features) or "none"}. Trained on {t.training_rows} rows,
months {t.first_month}..{t.last_month} ({t.production_rows} rows from production outcomes).

{_selection_section(manifest)}
## Holdout results (secondary)
{HEADER}
{chr(10).join(rows)}

The **stratified random holdout** (fixed seed {t.split_seed}, fingerprint `{strat.holdout_fingerprint[:16]}`)
is kept for reproducibility checks (the gate recomputes it) and as a secondary figure. It is
**optimistic**: it mixes every month into both training and test, and the "yes" rate climbs from
3% to over 50% across the file, so knowing the date alone scores well on it (a per-date lookup of
the training yes rate reaches ROC AUC 0.80 there) while saying nothing about next month. The
**time-ordered** holdout (train on the past, test on the last 20% of the file) and the backtest
above are the honest figures.

Decision threshold **{manifest.threshold:.2f}** ({t.threshold_method}); calibration: {t.calibration_method}.
Confidence bands on the margin from the threshold: medium from {manifest.confidence_bands["medium_from"]},
high from {manifest.confidence_bands["high_from"]}.

![calibration]({CALIBRATION_PNG})

## Segments (stratified holdout)
Segments with fewer than the minimum rows or positives are marked and not judged.

{_segment_table(strat)}

![segments]({SEGMENTS_PNG})

## Hyperparameters
`{t.hyperparameters}`

## Libraries
`{manifest.library_versions}`
"""
    return {CARD_FILE: text.encode(), **_plots(manifest)}

"""The human-readable model card (Markdown) with its calibration and segment plots (PNG)."""

from __future__ import annotations

import io

from propensity.bundle.manifest import CARD_FILE, Manifest, SplitMetrics
from propensity.monitoring.metrics import ClassificationMetrics

CALIBRATION_PNG = "calibration.png"
SEGMENTS_PNG = "segments.png"


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

## Holdout results
{HEADER}
{chr(10).join(rows)}

The **stratified random holdout** (fixed seed {t.split_seed}, fingerprint `{strat.holdout_fingerprint[:16]}`)
is the gate's yardstick: it holds the same mix of periods as the data, so a challenger is judged
on the model, not on which months it happens to be tested on. The **time-ordered** holdout
(train on the past, test on the last 20% of the file) is reported beside it because the data
drifts hard: the "yes" rate climbs from about 3% to over 30% across the file. Its gap to the
stratified figure is the cost of that drift, and the reason the drift and evaluation monitors exist.

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

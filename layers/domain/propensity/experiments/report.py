"""The experiment report: one self-contained HTML page with tables and plots."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from propensity.drift.report import STYLE, figure_html
from propensity.experiments.analysis import PRIMARY_FIELD, ExperimentAnalysis

_LABELS = {
    "net_return_per_customer": "net return per labelled customer (EUR)",
    "conversion": 'conversion among "yes" (precision)',
    "recall": "recall",
    "calls_per_subscription": "calls per subscription",
    "roc_auc": "ROC AUC",
    "calibration_bias": "calibration bias (mean p - observed)",
}


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def test_plot(analysis: ExperimentAnalysis) -> str | None:
    """The primary difference with its always-valid interval, and the always-valid p-value, by day."""
    plt = _pyplot()
    looks = [look for look in analysis.looks if look.difference is not None]
    if plt is None or not looks:
        return None
    design = analysis.experiment.record.design
    days = [look.day for look in looks]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 5.0), dpi=90, sharex=True)
    top.fill_between(
        days, [x.ci_low for x in looks], [x.ci_high for x in looks], color="#bbdefb", label="always-valid CI"
    )
    top.plot(days, [x.difference for x in looks], color="#1e88e5", label="challenger - champion")
    top.axhline(0, color="#424242", linewidth=0.8)
    for sign in (1, -1):
        top.axhline(sign * design.mde_sequential, color="#e53935", linewidth=0.6, linestyle="--")
    # The first days' intervals are huge; show the range where the decision is made.
    last = looks[-1]
    reach = max(3 * design.mde_sequential, 1.5 * max(abs(last.ci_low or 0.0), abs(last.ci_high or 0.0)))
    top.set_ylim(-reach, reach)
    end = analysis.experiment.end
    if end is not None:
        for axes in (top, bottom):
            axes.axvline(end.ended_at.date(), color="#43a047", linewidth=0.8, linestyle=":")
        top.text(end.ended_at.date(), 0.9 * reach, " stopped", fontsize=7, color="#43a047", va="top")
    top.set_title(f"{PRIMARY_FIELD[design.primary_metric].replace('_', ' ')}: estimate by day", fontsize=9)
    top.legend(fontsize=7)
    bottom.semilogy(days, [max(x.p_value, 1e-6) for x in looks], color="#6d4c41")
    bottom.axhline(
        design.alpha, color="#e53935", linewidth=0.8, linestyle="--", label=f"alpha {design.alpha}"
    )
    bottom.set_ylabel("always-valid p", fontsize=8)
    bottom.legend(fontsize=7)
    figure.autofmt_xdate()
    return _png(figure)


def sample_plot(analysis: ExperimentAnalysis) -> str | None:
    """Labelled units per arm by day against the planned horizon."""
    plt = _pyplot()
    if plt is None or not analysis.looks:
        return None
    design = analysis.experiment.record.design
    days = [look.day for look in analysis.looks]
    figure, axes = plt.subplots(figsize=(7.5, 2.6), dpi=90)
    axes.plot(days, [x.n_champion for x in analysis.looks], color="#90a4ae", label="champion")
    axes.plot(days, [x.n_challenger for x in analysis.looks], color="#1e88e5", label="challenger")
    if design.primary_metric == "net_return":
        axes.axhline(design.planned_units_champion, color="#90a4ae", linestyle=":", linewidth=0.8)
        axes.axhline(design.planned_units_challenger, color="#1e88e5", linestyle=":", linewidth=0.8)
    axes.set_title("customers with outcomes, by day (dotted: planned)", fontsize=9)
    axes.legend(fontsize=7)
    figure.autofmt_xdate()
    return _png(figure)


def difference_plot(analysis: ExperimentAnalysis) -> str | None:
    """Each metric's difference with its cluster-bootstrap interval (one panel per metric)."""
    plt = _pyplot()
    shown = [d for d in analysis.differences if d.difference is not None and d.low is not None]
    if plt is None or not shown:
        return None
    figure, panels = plt.subplots(len(shown), 1, figsize=(7.5, 0.75 * len(shown) + 0.6), dpi=90)
    for axes, d in zip([panels] if len(shown) == 1 else panels, shown, strict=True):
        if d.difference is None or d.low is None or d.high is None:
            continue
        axes.errorbar(
            [d.difference],
            [0],
            xerr=[[d.difference - d.low], [d.high - d.difference]],
            fmt="o",
            color="#1e88e5",
        )
        axes.axvline(0, color="#424242", linewidth=0.8)
        axes.set_yticks([])
        axes.set_ylabel(_LABELS.get(d.metric, d.metric), rotation=0, ha="right", va="center", fontsize=7)
    figure.suptitle(
        f"challenger - champion, {analysis.confidence:.0%} intervals (bootstrap over customers)", fontsize=9
    )
    return _png(figure)


def _n(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _arm_table(analysis: ExperimentAnalysis) -> str:
    a, b = analysis.arms["champion"], analysis.arms["challenger"]
    rows = [
        ("model version", a.model_version, b.model_version),
        ("predictions", a.predictions, b.predictions),
        ("customers", a.customers, b.customers),
        ("with outcomes", a.labelled, b.labelled),
        ("assigned by request id (no customer_ref)", a.fallback_predictions, b.fallback_predictions),
        ('calls ("yes")', a.calls, b.calls),
        ("subscriptions from calls", a.subscriptions_from_calls, b.subscriptions_from_calls),
        ("net return (EUR)", f"{a.net_return_eur:,.0f}", f"{b.net_return_eur:,.0f}"),
        (
            "mean probability / observed rate",
            f"{_n(a.mean_probability)} / {_n(a.observed_rate)}",
            f"{_n(b.mean_probability)} / {_n(b.observed_rate)}",
        ),
    ]
    body = "".join(f"<tr><td>{html.escape(str(r[0]))}</td><td>{r[1]}</td><td>{r[2]}</td></tr>" for r in rows)
    return f"<table><tr><th></th><th>champion</th><th>challenger</th></tr>{body}</table>"


def _difference_table(analysis: ExperimentAnalysis) -> str:
    body = "".join(
        f"<tr><td>{html.escape(_LABELS.get(d.metric, d.metric))}</td><td>{_n(d.champion, 4)}</td>"
        f"<td>{_n(d.challenger, 4)}</td><td>{_n(d.difference, 4)}</td>"
        f"<td>[{_n(d.low, 4)}, {_n(d.high, 4)}]</td></tr>"
        for d in analysis.differences
    )
    return (
        "<table><tr><th>metric</th><th>champion</th><th>challenger</th><th>difference</th>"
        f"<th>{analysis.confidence:.0%} CI</th></tr>{body}</table>"
    )


def _weekly_table(analysis: ExperimentAnalysis) -> str:
    weeks = analysis.by_week_served
    if not weeks:
        return "<p>no predictions yet</p>"
    body = "".join(
        f"<tr><td>{w.week}</td><td>{w.first_day}</td><td>{w.n_champion} / {w.n_challenger}</td>"
        f"<td>{_n(w.champion, 4)}</td><td>{_n(w.challenger, 4)}</td><td>{_n(w.difference, 4)}</td>"
        f"<td>[{_n(w.low, 4)}, {_n(w.high, 4)}]</td></tr>"
        for w in weeks
    )
    return (
        "<p>Customers by the week they were served, outcomes known so far. A check that the effect "
        "does not change sign over time; not the test (pointwise normal intervals over customers, "
        "uncorrected for reading several weeks).</p>"
        "<table><tr><th>week</th><th>from</th><th>customers with outcomes</th><th>champion</th>"
        f"<th>challenger</th><th>difference</th><th>{analysis.confidence:.0%} CI</th></tr>{body}</table>"
    )


def _design_table(analysis: ExperimentAnalysis) -> str:
    record = analysis.experiment.record
    design = record.design
    rows = [
        ("test", f"{design.test} (always valid: may be read every day)"),
        ("primary metric", design.primary_metric),
        ("alpha / power", f"{design.alpha} / {design.power}"),
        (
            "base conversion / call rate",
            f"{design.base_conversion:.3f} / {design.base_call_rate:.3f} ({design.base_source})",
        ),
        ("planned customers", f"{record.planned_customers} (challenger share {record.challenger_share:.0%})"),
        (
            "planned units per arm",
            f"{design.planned_units_champion:.0f} / {design.planned_units_challenger:.0f}",
        ),
        ("MDE fixed horizon / mSPRT", f"{design.mde_fixed_horizon:.4f} / {design.mde_sequential:.4f}"),
        ("mixing sd (tau)", f"{design.mixing_sd:.4f}"),
        (
            "started",
            f"{record.started_at:%Y-%m-%d %H:%M} UTC by {html.escape(record.started_by)}: "
            f"{html.escape(record.reason)}",
        ),
    ]
    end = analysis.experiment.end
    if end is not None:
        rows.append(
            (
                "ended",
                f"{end.ended_at:%Y-%m-%d %H:%M} UTC by {html.escape(end.ended_by)}: "
                f"{html.escape(end.reason)}",
            )
        )
    if record.policy_override:
        rows.append(("policy override", html.escape(record.policy_override)))
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render_html(analysis: ExperimentAnalysis, *, plots: bool = True) -> str:
    """The report as one self-contained HTML document."""
    record = analysis.experiment.record
    title = f"Experiment {record.experiment_id}: {record.champion_version} vs {record.challenger_version}"
    test = analysis.test
    verdict = (
        f"<p><b>Decision ({html.escape(analysis.verdict)}):</b> {html.escape(analysis.decision)}</p>"
        + (
            f"<p>Primary difference {_n(test.difference, 4)}, always-valid CI [{_n(test.ci_low, 4)}, "
            f"{_n(test.ci_high, 4)}], p = {test.p_value:.4f}, as of {analysis.as_of:%Y-%m-%d %H:%M} UTC.</p>"
            if test is not None
            else ""
        )
    )
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>status: {analysis.experiment.status}</p>",
        verdict,
        "<h2>Pre-registered design</h2>",
        _design_table(analysis),
        "<h2>Arms</h2>",
        _arm_table(analysis),
        "<h2>Differences</h2>",
        _difference_table(analysis),
        f"<h2>{html.escape(_LABELS[PRIMARY_FIELD[record.design.primary_metric]])} by week served</h2>",
        _weekly_table(analysis),
    ]
    if plots:
        parts += [
            figure_html(test_plot(analysis), "sequential test by day"),
            figure_html(sample_plot(analysis), "outcomes per arm"),
            figure_html(difference_plot(analysis), "differences with intervals"),
        ]
    if analysis.notes:
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in analysis.notes) + "</ul>"
        )
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{chr(10).join(parts)}</body></html>"


def summary_html(analysis: ExperimentAnalysis) -> str:
    """A compact block for the monitoring page (issue 16's dashboard): status, arms, test, decision.

    INTEGRATION POINT: the dashboard calls ``analyse`` for the running (or latest) experiment and
    embeds this fragment (it uses only the page's table styles).
    """
    record = analysis.experiment.record
    test = analysis.test
    a, b = analysis.arms["champion"], analysis.arms["challenger"]
    primary = PRIMARY_FIELD[record.design.primary_metric]
    line = (
        f"{_n(test.difference, 4)} [{_n(test.ci_low, 4)}, {_n(test.ci_high, 4)}], p = {test.p_value:.4f}"
        if test is not None
        else "no outcomes yet"
    )
    rows = [
        ("experiment", f"{html.escape(record.experiment_id)} ({analysis.experiment.status})"),
        (
            "arms",
            f"{html.escape(a.model_version)} vs {html.escape(b.model_version)} "
            f"({record.challenger_share:.0%})",
        ),
        ("customers with outcomes", f"{a.labelled_customers} / {b.labelled_customers}"),
        (f"{primary.replace('_', ' ')} difference", line),
        ("decision", html.escape(analysis.decision)),
    ]
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='experiment'>{body}</table>"

"""The evaluation report for people: Markdown with PNG plots, written next to the results."""

from __future__ import annotations

from collections.abc import Sequence

from propensity.archive.store import ArchiveStore
from propensity.evaluation import plots
from propensity.evaluation.models import CbpeEstimate, GroupResult, RunSummary
from propensity.evaluation.results import report_prefix

REPORT_FILE = "report.md"


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _eur(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} €"


def _latest_judged(results: Sequence[GroupResult]) -> list[GroupResult]:
    latest: dict[tuple[str, str], GroupResult] = {}
    for result in sorted(results, key=lambda r: r.window.start):
        if result.signals.judged:
            latest[(result.api_version, result.model_version)] = result
    return list(latest.values())


def _newest(results: Sequence[GroupResult]) -> list[GroupResult]:
    newest: dict[tuple[str, str], GroupResult] = {}
    for result in sorted(results, key=lambda r: r.window.start):
        newest[(result.api_version, result.model_version)] = result
    return list(newest.values())


def _rf(realised: float | None, estimated: float | None) -> str:
    return f"{_f(realised)} / {_f(estimated)}"


def _windows_table(results: Sequence[GroupResult]) -> list[str]:
    lines = [
        "| API | model | window | predictions | outcomes | coverage | subscribed: observed / predicted | "
        "F1 r / e | precision r / e | recall r / e | ROC AUC r / e | ECE | CBPE |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    shown: set[tuple[str, str]] = set()
    for r in sorted(results, key=lambda x: (x.api_version, x.model_version, x.window.start)):
        b = r.baseline
        if (r.api_version, r.model_version) not in shown and b is not None:
            shown.add((r.api_version, r.model_version))
            lines.append(
                f"| {r.api_version} | {r.model_version} | *manifest holdout* | – | – | – | "
                f"{_pct(b.base_rate)} / {_pct(b.mean_probability)} | {_f(b.f1)} | {_f(b.precision)} | "
                f"{_f(b.recall)} | {_f(b.roc_auc)} | {_f(b.ece)} | – |"
            )
        m, e = r.realised, r.estimated
        coverage = _pct(r.coverage.share) + (" **thin**" if r.coverage.thin else "")
        calibration = f"{_pct(m.base_rate)} / {_pct(m.mean_probability)}" if m else "–"
        lines.append(
            f"| {r.api_version} | {r.model_version} | {r.window.label} | {r.coverage.predictions} | "
            f"{r.coverage.labelled} | {coverage} | {calibration} | {_rf(m.f1 if m else None, e.f1)} | "
            f"{_rf(m.precision if m else None, e.precision)} | {_rf(m.recall if m else None, e.recall)} | "
            f"{_rf(m.roc_auc if m else None, e.roc_auc)} | {_f(m.ece if m else None)} | {e.trust} |"
        )
    lines += [
        "",
        "r = realised on the predictions with an outcome, e = estimated by CBPE on every prediction. "
        "*subscribed*: the observed subscription rate of the labelled predictions next to their mean "
        "predicted probability (calibration in the large).",
    ]
    return lines


def _signal_lines(results: Sequence[GroupResult]) -> list[str]:
    lines = []
    for r in results:
        s = r.signals
        head = f"- **{r.api_version} {r.model_version}**, window {r.window.label}:"
        f1 = (
            f"F1 {_f(r.realised.f1 if r.realised else None)} vs manifest baseline {_f(s.baseline_f1)} "
            f"(drop {_pct(s.f1_drop_relative)}) → {'**WARNING**' if s.f1_warning else 'ok'}"
        )
        conversion = (
            f'conversion of "yes" {_pct(r.business.conversion_rate if r.business else None)} vs '
            f"{_pct(s.baseline_conversion)} ({s.baseline_conversion_source}; "
            f"drop {_pct(s.conversion_drop_relative)}) "
            f"→ {'**WARNING**' if s.conversion_warning else 'ok'}"
        )
        ece = f"ECE {_f(s.ece)} → {'**INFO**: above the bound' if s.ece_info else 'within the bound'}"
        lines += [head, f"  - {f1}", f"  - {conversion}", f"  - {ece}"]
    return lines or ["No window has enough outcomes yet: nothing is judged, no alarm metric was published."]


def _business_lines(results: Sequence[GroupResult]) -> list[str]:
    lines = [
        '| API | model | window | calls ("yes") | subscriptions | conversion | '
        'unexpected subscribers ("no") | net return | return on cost | call everyone | '
        "net return estimated |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(results, key=lambda x: (x.api_version, x.model_version, x.window.start)):
        b = r.business
        if b is None:
            lines.append(
                f"| {r.api_version} | {r.model_version} | {r.window.label} | – | – | – | – | – | – | – | "
                f"{_eur(r.estimated.net_return_eur)} |"
            )
            continue
        lines.append(
            f"| {r.api_version} | {r.model_version} | {r.window.label} | {b.yes_predictions} | "
            f"{b.subscriptions_from_calls} | {_pct(b.conversion_rate)} | {b.unexpected_subscribers} "
            f"({_pct(b.unexpected_subscriber_rate)}) | {_eur(b.net_return_eur)} | {_pct(b.return_on_cost)} | "
            f"{_eur(b.call_everyone_net_return_eur)} | {_eur(r.estimated.net_return_eur)} |"
        )
    return lines


def _cbpe_lines(estimate: CbpeEstimate) -> list[str]:
    return [f"  - {caveat}" for caveat in estimate.caveats]


def _segment_table(result: GroupResult) -> list[str]:
    lines = [
        f"#### {result.api_version} {result.model_version}, window {result.window.label}",
        "",
        "| segment | value | predictions | outcomes | subscription rate | F1 realised | F1 estimated | "
        "conversion | ECE | judged |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for family, entries in result.segments.items():
        for s in entries:
            m = s.realised
            lines.append(
                f"| {family} | {s.label} | {s.predictions} | {s.labelled} | "
                f"{_pct(m.base_rate if m else None)} | "
                f"{_f(m.f1 if m else None)} | {_f(s.estimated_f1)} | "
                f"{_pct(s.business.conversion_rate if s.business else None)} | {_f(m.ece if m else None)} | "
                f"{'too small' if s.small else 'yes'} |"
            )
    return lines


def _reliability_table(result: GroupResult) -> list[str]:
    lines = [
        f"#### {result.api_version} {result.model_version}, window {result.window.label}",
        "",
        "| probability bin | rows | mean probability | observed rate |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {b.lower:.1f}–{b.upper:.1f} | {b.count} | {_f(b.mean_probability)} | {_f(b.observed_rate)} |"
        for b in result.reliability
        if b.count
    ]
    return lines


def render_markdown(summary: RunSummary, plot_files: Sequence[str], plot_note: str | None) -> str:
    """The report text; ``plot_files`` are PNG names next to it."""
    judged = _latest_judged(summary.results)
    newest = _newest(summary.results)
    first, last = summary.windows[0], summary.windows[-1]
    out = [
        "# Model evaluation report",
        "",
        f"Run at {summary.run_at:%Y-%m-%d %H:%M} UTC over {len(summary.windows)} window(s) from "
        f"{first.start:%Y-%m-%d} to {last.end:%Y-%m-%d} (exclusive). Realised figures use only the "
        "predictions whose outcome is known; estimated figures (CBPE) use every prediction and no outcome.",
        "",
        "## Alarms",
        "",
        *_signal_lines(judged),
        "",
        "## Performance per window: realised next to estimated",
        "",
        *_windows_table(summary.results),
        "",
        "## Estimated performance (CBPE) and where it cannot be trusted",
        "",
    ]
    for r in newest:
        out.append(
            f"- **{r.api_version} {r.model_version}**, newest window {r.window.label}: estimated F1 "
            f"{_f(r.estimated.f1)}, precision {_f(r.estimated.precision)}, recall {_f(r.estimated.recall)}, "
            f"ROC AUC {_f(r.estimated.roc_auc)}; "
            f"expected subscribers {r.estimated.expected_positives:.0f} of "
            f"{r.estimated.rows} predictions; verdict **{r.estimated.trust}**"
        )
        out += _cbpe_lines(r.estimated)
    out += [
        "",
        "CBPE assumes P(subscribe | probability) is what it was when the model was calibrated. It stays "
        "valid when only the inputs shift, and fails silently under concept drift or a change in the base "
        "rate; the verdict above checks the assumption on the outcomes that exist.",
        "",
        "## Business figures",
        "",
        *_business_lines(summary.results),
        "",
        "## Plots",
        "",
    ]
    out += [f"![{name}]({name})" for name in plot_files] or [plot_note or "No plot."]
    out += ["", "## Segments (latest judged window)", ""]
    for r in judged:
        out += [*_segment_table(r), ""]
    if not judged:
        out.append("No judged window yet.")
    out += ["", "## Reliability (latest judged window)", ""]
    for r in judged:
        out += [*_reliability_table(r), ""]
    out += [
        "## Data",
        "",
        f"- events read {summary.events_read}, duplicates dropped {summary.duplicate_events}, "
        f"unreadable archive lines {summary.bad_archive_lines}",
        f"- outcomes {summary.outcomes_loaded} from {summary.outcome_files} file(s); "
        f"{summary.outcome_duplicates} repeated for the same prediction "
        f"({summary.outcome_conflicts} disagreeing, "
        "resolved by the latest outcome date, then the latest file); "
        f"{summary.labelled_by_customer_ref} joined by customer reference",
        f"- outcomes matching no prediction in the span: {summary.unmatched_outcomes}"
        + (f" (e.g. {', '.join(summary.unmatched_examples[:5])})" if summary.unmatched_examples else ""),
    ]
    for r in summary.results:
        out += [f"- {r.api_version} {r.model_version} {r.window.label}: {note}" for note in r.notes]
    out += [f"- {note}" for note in summary.notes]
    return "\n".join(out) + "\n"


def write_report(
    store: ArchiveStore, summary: RunSummary, history: Sequence[GroupResult], with_plots: bool = True
) -> RunSummary:
    """Render plots (when matplotlib is there) and the Markdown into ``evaluation/reports/<run>/``."""
    prefix = report_prefix(summary.run_at)
    written: list[str] = []
    note: str | None = None
    if not with_plots:
        note = "Plots were not requested for this run."
    elif not plots.plots_available():
        note = (
            "Plots not rendered: matplotlib is not installed here "
            "(run `propensity evaluate` locally for them)."
        )
    else:
        rendered = {
            plots.RELIABILITY_PNG: plots.reliability_png(summary.results),
            plots.TREND_PNG: plots.trend_png(history),
        }
        for name, png in rendered.items():
            if png is not None:
                store.put(prefix + name, png)
                written.append(name)
    text = render_markdown(summary, written, note)
    store.put(prefix + REPORT_FILE, text.encode())
    return summary.model_copy(
        update={"report_key": prefix + REPORT_FILE, "plots": [prefix + n for n in written]}
    )

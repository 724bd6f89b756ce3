"""The gate report for people: the verdict and its reasons first, then every figure."""

from __future__ import annotations

from propensity.gate.bootstrap import segment_confidence
from propensity.gate.report import CHECK_KINDS, Check, GateReport, MetricComparison
from propensity.segments import MIN_SEGMENT_POSITIVES, MIN_SEGMENT_ROWS

KIND_TITLES = {
    "integrity": "Integrity",
    "time": "On time: backtest months, paired with the champion",
    "minimum": "Minimum thresholds",
    "degradation": "No degradation against the champion (paired bootstrap)",
    "segment": "Segment consistency",
    "distribution": "Expected prediction distribution",
}


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if value and abs(value) < 10**-digits:
        return f"{value:.1e}"  # tolerances such as 1e-6 must not print as 0.0000
    return f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _status(check: Check) -> str:
    return {True: "pass", False: "**FAIL**", None: "not judged"}[check.passed]


def _check_rows(checks: list[Check]) -> list[str]:
    rows = ["| check | result | observed | limit | detail |", "|---|---|---|---|---|"]
    rows += [
        f"| {c.name} | {_status(c)} | {_num(c.observed)} | {_num(c.limit)} | {c.detail} |" for c in checks
    ]
    return rows


def _comparison_rows(comparisons: list[MetricComparison], confidence: float) -> list[str]:
    rows = [
        f"| metric | champion | challenger | difference | {confidence:.0%} CI of the difference |",
        "|---|---|---|---|---|",
    ]
    for c in comparisons:
        direction = "" if c.higher_is_better else " (lower is better)"
        rows.append(
            f"| {c.metric}{direction} | {_num(c.champion)} | {_num(c.challenger)} | "
            f"{_signed(c.difference)} | [{_signed(c.ci_low)}, {_signed(c.ci_high)}] |"
        )
    return rows


def _time_rows(report: GateReport) -> list[str]:
    t = report.over_time
    if t is None:
        return []
    rows = [
        "## Month by month",
        "",
        "Challenger: its backtest (trained only on the months before each). Champion: its own "
        "backtest on the same rows, or, for months after its training data, the champion as shipped.",
        "",
        "| month | rows | yes rate | challenger ROC AUC | champion ROC AUC | champion figure | difference "
        "| challenger bias | champion bias |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in t.months:
        rows.append(
            f"| {m.month} | {m.rows} | {m.yes_rate:.3f} | {_num(m.challenger_roc_auc, 3)} | "
            f"{_num(m.champion_roc_auc, 3)} | {m.champion_source} | {_signed(m.difference)} | "
            f"{m.challenger_bias:+.3f} | {_signed(m.champion_bias)} |"
        )
    rows += [
        "",
        f"Paired months {t.paired}: mean difference {_signed(t.mean_difference)}, CI "
        f"[{_signed(t.ci_low)}, {_signed(t.ci_high)}], better in {t.months_better}, worse in "
        f"{t.months_worse}, sign test p = {_num(t.sign_test_p, 3)}.",
        "",
    ]
    return rows


def render_markdown(report: GateReport) -> str:
    """The whole report as Markdown."""
    verdict = "PASSED" if report.passed else "FAILED"
    t = report.thresholds
    lines = [
        f"# Gate {verdict}: {report.api_version} challenger {report.challenger_version}",
        "",
        f"Champion **{report.champion_version}**, challenger **{report.challenger_version}**, "
        f"judged {report.created_at:%Y-%m-%d %H:%M} UTC on the fixed stratified holdout: "
        f"{report.holdout_rows} rows, {report.holdout_positives} subscribers "
        f"(fingerprint `{report.holdout_fingerprint[:16]}`, data `{report.data_sha256[:16]}`). "
        f"Paired stratified bootstrap: {t.bootstrap_resamples} resamples, seed {report.seed}, "
        f"{report.seconds:.1f} s.",
        "",
    ]
    failures = report.failures()
    if failures:
        lines += [f"## Why it failed ({len(failures)} checks)", "", *_check_rows(failures), ""]
    else:
        lines += ["No judged check failed: the challenger may become champion.", ""]
    lines += [
        "## Overall",
        "",
        *_comparison_rows(report.overall, t.bootstrap_confidence),
        "",
    ]
    for kind in CHECK_KINDS:
        checks = [c for c in report.checks if c.kind == kind]
        if kind == "segment":
            checks = [c for c in checks if c.passed is not None]
        if checks:
            lines += [f"## {KIND_TITLES[kind]}", "", *_check_rows(checks), ""]
    lines += _time_rows(report)
    judged = sum(s.judged for s in report.segments)
    lines += [
        "## Segments",
        "",
        f"Segments with fewer than {MIN_SEGMENT_ROWS} rows or {MIN_SEGMENT_POSITIVES} subscribers are "
        "reported, not judged: their figures are mostly noise. The intervals of judged segments "
        f"are at {segment_confidence(t.bootstrap_confidence, judged):.2%} each, so that all "
        f"{judged} hold together at {t.bootstrap_confidence:.0%} (Bonferroni).",
        "",
        "| segment | rows | positives | judged | ROC AUC champion | ROC AUC challenger "
        "| CI of the difference | PR AUC champion | PR AUC challenger | F1 champion | F1 challenger |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report.segments:
        roc = next(c for c in s.comparisons if c.metric == "roc_auc")
        lines.append(
            f"| {s.family}={s.label} | {s.rows} | {s.positives} | {'yes' if s.judged else 'no'} | "
            f"{_num(s.champion.roc_auc, 3)} | {_num(s.challenger.roc_auc, 3)} | "
            f"[{_signed(roc.ci_low)}, {_signed(roc.ci_high)}] | {_num(s.champion.pr_auc, 3)} | "
            f"{_num(s.challenger.pr_auc, 3)} | {s.champion.f1:.3f} | {s.challenger.f1:.3f} |"
        )
    d = report.distribution
    lines += [
        "",
        "## Score distribution on the holdout",
        "",
        f"Base rate {d.base_rate:.2%}; yes rate champion {d.champion_yes_rate:.2%}, challenger "
        f"{d.challenger_yes_rate:.2%}; mean probability champion {d.champion_mean_probability:.2%}, "
        f"challenger {d.challenger_mean_probability:.2%}; PSI {d.score_psi:.4f}.",
        "",
        "| probability | champion | challenger |",
        "|---|---|---|",
    ]
    bounds = [0.0, *d.score_edges, 1.0]
    for i, (a, b) in enumerate(zip(d.champion_score_shares, d.challenger_score_shares, strict=True)):
        lines.append(f"| {bounds[i]:.2f}-{bounds[i + 1]:.2f} | {a:.2%} | {b:.2%} |")
    return "\n".join(lines) + "\n"

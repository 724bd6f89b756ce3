"""The gate's time-aware part: champion and challenger compared month by month.

The challenger's manifest carries its backtest (train on the months before M, test on M).
For each of those months the champion's figure is, in order of preference:
  - its own backtest figure on the same month (same rows, by content fingerprint): recipe
    against recipe, both trained only on earlier months;
  - else, for a month after the champion's last training month, the champion artefact as
    shipped, scored on that month's rows: what keeping the static model would have given.
Months with neither are reported, not paired. Over the paired months the gate takes the
mean ROC AUC difference with a bootstrap interval over months (months are the unit: rows
within a month share its yes rate), a sign test (months won / lost), and the most recent
paired month alone.
"""

from __future__ import annotations

from math import comb

import numpy as np

from propensity.bundle.io import Bundle
from propensity.bundle.manifest import BacktestMonth
from propensity.data.loader import BankDataset
from propensity.gate.report import ChampionSource, Check, MonthComparison, TimeComparison
from propensity.monitoring.metrics import roc_auc
from propensity.policy.gate import GateThresholds
from propensity.training.backtest import month_fingerprint
from propensity.training.train import flat_columns


def sign_test_p(better: int, worse: int) -> float:
    """Two-sided exact binomial p-value of ``better`` wins out of ``better + worse`` (ties dropped)."""
    n = better + worse
    if n == 0:
        return 1.0
    k = min(better, worse)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def month_bootstrap(
    differences: list[float], resamples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile interval of the mean difference, months resampled with replacement."""
    values = np.asarray(differences)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def _as_shipped(bundle: Bundle, data: BankDataset, month: BacktestMonth) -> tuple[float | None, float] | None:
    """The champion artefact's ROC AUC and bias on the month, if the rows are the challenger's."""
    rows = np.flatnonzero(data.calendar_months() == month.month)
    if rows.size == 0 or month_fingerprint(data, rows, month.month) != month.fingerprint:
        return None
    subset = data.take(rows)
    p = bundle.model.score(flat_columns(subset, bundle.manifest.api_version)).probability
    auc = roc_auc(subset.target, p)
    return (None if np.isnan(auc) else float(auc)), float(p.mean() - subset.target.mean())


def compare_over_time(
    champion: Bundle, challenger: Bundle, data: BankDataset, policy: GateThresholds, seed: int
) -> TimeComparison | None:
    """Per-month pairing (see the module docstring); None when the challenger has no backtest."""
    backtest = challenger.manifest.backtest
    if backtest is None:
        return None
    recorded = {
        m.fingerprint: m for m in (champion.manifest.backtest.months if champion.manifest.backtest else [])
    }
    last_trained = champion.manifest.training.last_month
    months = []
    for month in backtest.months:
        source: ChampionSource = "none"
        auc: float | None = None
        bias: float | None = None
        if month.fingerprint in recorded:
            source, auc, bias = (
                "backtest",
                recorded[month.fingerprint].roc_auc,
                recorded[month.fingerprint].bias,
            )
        elif last_trained is not None and month.month > last_trained:
            shipped = _as_shipped(champion, data, month)
            if shipped is not None:
                source, (auc, bias) = "as shipped", shipped
        months.append(
            MonthComparison(
                month=month.month,
                rows=month.rows,
                yes_rate=month.yes_rate,
                challenger_roc_auc=month.roc_auc,
                champion_roc_auc=auc,
                champion_source=source,
                challenger_bias=month.bias,
                champion_bias=bias,
            )
        )
    differences = [d for d in (m.difference for m in months) if d is not None]
    low = high = None
    if differences:
        low, high = month_bootstrap(
            differences, policy.bootstrap_resamples, policy.bootstrap_confidence, seed
        )
    better = sum(d > 0 for d in differences)
    worse = sum(d < 0 for d in differences)
    return TimeComparison(
        months=months,
        paired=len(differences),
        mean_difference=float(np.mean(differences)) if differences else None,
        ci_low=low,
        ci_high=high,
        months_better=better,
        months_worse=worse,
        sign_test_p=sign_test_p(better, worse) if differences else None,
        challenger_mean_roc_auc=backtest.mean("roc_auc"),
        challenger_mean_bias=backtest.mean("bias"),
    )


def time_checks(comparison: TimeComparison | None, policy: GateThresholds, challenger: str) -> list[Check]:
    """The time-aware checks (kind "time")."""
    if comparison is None:
        return [
            Check(
                kind="time",
                name="challenger has a backtest",
                passed=False if policy.require_backtest else None,
                observed=None,
                limit=None,
                detail=(
                    f"{challenger} records no backtest, so it cannot be judged on time; train it with "
                    "`propensity train` (records the config's backtest) or `--backtest-months N`"
                ),
            )
        ]
    c = comparison
    auc = c.challenger_mean_roc_auc
    bias = c.challenger_mean_bias
    checks = [
        Check(
            kind="time",
            name=f"backtest mean ROC AUC >= {policy.min_backtest_roc_auc}",
            passed=auc is not None and auc >= policy.min_backtest_roc_auc,
            observed=auc,
            limit=policy.min_backtest_roc_auc,
            detail=f"mean over {len(c.months)} months, each trained only on earlier months",
        ),
        Check(
            kind="time",
            name=f"backtest mean calibration bias within ±{policy.max_backtest_abs_bias}",
            passed=bias is not None and abs(bias) <= policy.max_backtest_abs_bias,
            observed=bias,
            limit=policy.max_backtest_abs_bias,
            detail="mean of (mean predicted probability - observed yes rate) over the backtest months",
        ),
    ]
    if c.paired < policy.min_paired_months:
        checks.append(
            Check(
                kind="time",
                name="paired months with the champion",
                passed=None,
                observed=float(c.paired),
                limit=float(policy.min_paired_months),
                detail=(
                    f"{c.paired} months pair with the champion (needs {policy.min_paired_months} to judge): "
                    "the champion has no backtest on these months and none of them is after its training data"
                ),
            )
        )
        return checks
    limit = -policy.backtest_tolerance
    assert c.ci_high is not None
    assert c.ci_low is not None
    assert c.mean_difference is not None
    verdict = "better" if c.ci_low > 0 else "worse" if c.ci_high < 0 else "not distinguishable"
    sources = sorted({m.champion_source for m in c.months if m.difference is not None})
    checks.append(
        Check(
            kind="time",
            name="ROC AUC over backtest months not worse than the champion",
            passed=not c.ci_high < limit,
            observed=c.ci_high,
            limit=limit,
            detail=(
                f"mean monthly difference {c.mean_difference:+.4f}, {policy.bootstrap_confidence:.0%} CI "
                f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}] over {c.paired} months ({verdict}); better in "
                f"{c.months_better}, worse in {c.months_worse} (sign test p={c.sign_test_p:.3f}); champion "
                f"figures: {', '.join(sources)}; fails when the CI's upper bound < {limit}"
            ),
        )
    )
    last = [m for m in c.months if m.difference is not None][-1]
    assert last.difference is not None
    checks.append(
        Check(
            kind="time",
            name=f"most recent month: ROC AUC within {policy.recent_month_tolerance} of the champion",
            passed=last.difference >= -policy.recent_month_tolerance,
            observed=last.difference,
            limit=-policy.recent_month_tolerance,
            detail=(
                f"{last.month} ({last.rows} rows): challenger {last.challenger_roc_auc:.4f}, champion "
                f"{last.champion_roc_auc:.4f} ({last.champion_source})"
            ),
        )
    )
    return checks

"""``propensity experiment start|status|stop|report``: A/B experiments on outcomes.

propensity experiment start --api v2 --challenger <version> --share 0.5 --planned-customers 20000 \\
    --primary net_return --reason "retrained on recent months"
propensity experiment status --api v2                 # arms, outcomes so far, the sequential test
propensity experiment stop --api v2 --reason "decided" # all traffic back to the champion at once
propensity experiment report --api v2 --out experiment.html [--json figures.json]

The local server follows start and stop within its poll interval; a Lambda function reads the
running experiment at init from the registry named by EXPERIMENT_REGISTRY (docs/experiments.md).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from propensity.cli import command
from propensity.constants import API_VERSIONS
from propensity.experiments.models import PRIMARY_METRICS


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api", choices=API_VERSIONS, default="v2", help="API version (experiments serve v2)"
    )
    parser.add_argument("--registry", default=None, help="registry folder or s3://... ($PROPENSITY_REGISTRY)")


def _analysis_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", default=None, help="archive folder or s3://bucket ($PROPENSITY_ARCHIVE)")
    parser.add_argument(
        "--id", dest="experiment_id", default=None, help="experiment id (default: running/latest)"
    )
    parser.add_argument("--now", default=None, help="analyse as of this ISO time (default: now)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="pre-register and start an experiment")
    _common(start)
    start.add_argument("--challenger", required=True, help="registered, gated model version")
    start.add_argument("--share", type=float, default=0.5, help="challenger's share of customers (0-1)")
    start.add_argument("--planned-customers", type=int, required=True, help="customers at the horizon")
    start.add_argument("--primary", choices=PRIMARY_METRICS, default="net_return", help="primary metric")
    start.add_argument("--alpha", type=float, default=0.05)
    start.add_argument("--power", type=float, default=0.8)
    start.add_argument("--base-conversion", type=float, default=None, help="default: champion's precision")
    start.add_argument("--base-call-rate", type=float, default=None, help="default: champion's yes rate")
    start.add_argument("--name", default="")
    start.add_argument("--salt", default=None, help="assignment salt (default: random)")
    start.add_argument("--reason", required=True)
    start.add_argument("--override-gate", default=None, metavar="REASON", help="start without a passing gate")
    start.add_argument("--now", default=None, help="start time (ISO; replays only)")
    status = sub.add_parser("status", help="the running (or latest) experiment and its test so far")
    _common(status)
    _analysis_args(status)
    stop = sub.add_parser("stop", help="end the experiment: all traffic back to the champion")
    _common(stop)
    stop.add_argument("--id", dest="experiment_id", default=None)
    stop.add_argument("--reason", required=True)
    stop.add_argument("--decision", default="", help="what was decided (recorded)")
    stop.add_argument("--now", default=None, help="stop time (ISO; replays only)")
    report = sub.add_parser("report", help="HTML report with plots (and JSON figures)")
    _common(report)
    _analysis_args(report)
    report.add_argument("--out", required=True, help="HTML file to write")
    report.add_argument("--json", default=None, help="also write the figures as JSON here")


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"--now needs a time zone (e.g. {text}+00:00)")
    return moment


def _start(args: argparse.Namespace) -> int:
    from propensity.experiments import lifecycle, power
    from propensity.policy.evaluation import EvaluationThresholds
    from propensity.registry.factory import open_registry

    registry = open_registry(args.registry)
    champion = registry.alias(args.api, "champion")
    if champion is None:
        raise ValueError(f"{args.api} has no champion")
    overall = registry.manifest(args.api, champion).gate_metrics.overall
    money = EvaluationThresholds()
    source = "given" if args.base_conversion and args.base_call_rate else f"champion {champion} holdout"
    design = power.design(
        primary_metric=args.primary,
        planned_customers=args.planned_customers,
        challenger_share=args.share,
        alpha=args.alpha,
        power=args.power,
        base_conversion=args.base_conversion or overall.precision,
        base_call_rate=args.base_call_rate or overall.yes_rate,
        base_source=source,
        cost_per_call_eur=money.cost_per_call_eur,
        value_per_subscription_eur=money.value_per_subscription_eur,
    )
    record = lifecycle.start(
        registry,
        args.api,
        challenger=args.challenger,
        challenger_share=args.share,
        planned_customers=args.planned_customers,
        design=design,
        reason=args.reason,
        name=args.name,
        salt=args.salt,
        override_gate=args.override_gate,
        now=_time(args.now),
    )
    print(
        f"{record.experiment_id}: {record.champion_version} (champion) vs {record.challenger_version} "
        f"(challenger, {record.challenger_share:.0%} of customers), "
        f"started {record.started_at:%Y-%m-%d %H:%M}"
    )
    _print_design(record.design)
    if record.policy_override:
        print(f"POLICY OVERRIDE recorded: {record.policy_override}")
    return 0


def _print_design(design: Any) -> None:
    unit = "EUR per customer" if design.primary_metric == "net_return" else "conversion points"
    print(
        f"pre-registered: {design.test} on {design.primary_metric}, alpha {design.alpha}, "
        f"power {design.power}; base conversion {design.base_conversion:.3f}, "
        f"call rate {design.base_call_rate:.3f} ({design.base_source})"
    )
    print(
        f"planned units {design.planned_units_champion:.0f} / {design.planned_units_challenger:.0f}; "
        f"MDE {design.mde_fixed_horizon:.4f} {unit} (fixed horizon), "
        f"{design.mde_sequential:.4f} (mSPRT read at the horizon)"
    )


def _analysis(args: argparse.Namespace) -> Any:
    from propensity.archive.store import open_archive
    from propensity.experiments import lifecycle
    from propensity.experiments.analysis import analyse
    from propensity.labels.outcomes import load_outcomes
    from propensity.registry.factory import open_registry

    experiment = lifecycle.find(open_registry(args.registry), args.api, args.experiment_id)
    store = open_archive(args.archive)
    return analyse(
        store,
        experiment,
        load_outcomes(store),
        now=_time(args.now),
        resamples=args.resamples,
        engine=_engine(store),
    )


def _engine(store: Any) -> Any:
    """The query engine the jobs use: DuckDB over a local archive; Athena over an S3 one when
    ATHENA_WORKGROUP and GLUE_DATABASE are set, else None (the Python reader over S3)."""
    import os

    from propensity.archive.store import LocalArchiveStore
    from propensity.query.factory import open_engine

    if isinstance(store, LocalArchiveStore):
        return open_engine(store.root)
    workgroup, database = os.environ.get("ATHENA_WORKGROUP"), os.environ.get("GLUE_DATABASE")
    if workgroup and database:
        return open_engine(store.location, workgroup=workgroup, database=database)
    return None


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def print_status(analysis: Any) -> None:
    record = analysis.experiment.record
    print(
        f"{record.experiment_id} ({analysis.experiment.status}): {record.champion_version} vs "
        f"{record.challenger_version}, challenger share {record.challenger_share:.0%}, started "
        f"{record.started_at:%Y-%m-%d}"
    )
    for arm, figures in analysis.arms.items():
        print(
            f"  {arm:<10} {figures.predictions} predictions, {figures.customers} customers, "
            f"{figures.labelled} with outcomes; conversion {_number(figures.conversion)}, recall "
            f"{_number(figures.recall)}, ROC AUC {_number(figures.roc_auc)}, net return/customer "
            f"{_number(figures.net_return_per_customer, 2)} EUR"
        )
    for d in analysis.differences:
        print(
            f"  diff {d.metric:<24} {_number(d.difference, 4)}  "
            f"CI [{_number(d.low, 4)}, {_number(d.high, 4)}]"
        )
    if analysis.test is not None:
        t = analysis.test
        print(
            f"  test on {record.design.primary_metric}: difference {_number(t.difference, 4)}, "
            "always-valid CI "
            f"[{_number(t.ci_low, 4)}, {_number(t.ci_high, 4)}], p = {t.p_value:.4f}"
        )
    print(f"decision: {analysis.decision}")
    for note in analysis.notes:
        print(f"  note: {note}")


def _status(args: argparse.Namespace) -> int:
    print_status(_analysis(args))
    return 0


def _stop(args: argparse.Namespace) -> int:
    from propensity.experiments import lifecycle
    from propensity.registry.factory import open_registry

    end = lifecycle.stop(
        open_registry(args.registry),
        args.api,
        reason=args.reason,
        decision=args.decision,
        wanted=args.experiment_id,
        now=_time(args.now),
    )
    print(
        f"{end.experiment_id} stopped at {end.ended_at:%Y-%m-%d %H:%M} by {end.ended_by}: all traffic "
        f"goes back to the champion (a running local server within its poll interval)"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from propensity.experiments.report import render_html

    analysis = _analysis(args)
    Path(args.out).write_text(render_html(analysis))
    if args.json:
        Path(args.json).write_text(analysis.model_dump_json(indent=1))
    print_status(analysis)
    print(f"report: {args.out}")
    return 0


_HANDLERS = {"start": _start, "status": _status, "stop": _stop, "report": _report}


@command("experiment", "A/B experiments on outcomes: start, status, stop, report", _configure)
def _experiment(args: argparse.Namespace) -> int:
    handler = _HANDLERS.get(args.action)
    if handler is None:
        print(f"unknown action {args.action}", file=sys.stderr)
        return 2
    return handler(args)

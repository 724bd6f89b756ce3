"""``propensity drift``, ``drift-report`` and ``drift-demo``: the drift job on a local archive.

propensity drift --archive .local/archive                    # scheduled run: catch up to the last hour
propensity drift --hour 2026-11-26T10 --force --report r.html  # one hour, recomputed, with its report
propensity drift-report --day 2026-11-26 --out day.html       # report from stored results
propensity drift-demo --out .local/drift-demo                 # the replay scenario on the real data
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from propensity.cli import command


def _archive_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", default=None, help="archive folder or s3://bucket ($PROPENSITY_ARCHIVE)")
    parser.add_argument("--registry", default=None, help="registry folder or s3://... ($PROPENSITY_REGISTRY)")


def _configure_drift(parser: argparse.ArgumentParser) -> None:
    _archive_args(parser)
    parser.add_argument(
        "--hour", action="append", default=[], help="an hour to compute, e.g. 2026-11-26T10 (repeat)"
    )
    parser.add_argument("--from", dest="start", default=None, help="first hour of a range (with --to)")
    parser.add_argument("--to", dest="end", default=None, help="hour after the last one of the range")
    parser.add_argument(
        "--force", action="store_true", help="recompute even when the hour's objects are unchanged"
    )
    parser.add_argument(
        "--now",
        default=None,
        help="run as the schedule would at this time, to the minute (e.g. 2026-11-26T10:20; not later)",
    )
    parser.add_argument("--report", default=None, help="write the HTML report of the last computed hour here")
    parser.add_argument("--metrics", default=None, help="append metrics as JSON lines to this file")


def _print_result(result: object) -> None:
    from propensity.drift.results import WindowResult

    assert isinstance(result, WindowResult)
    synthetic = sum(result.synthetic_events.values())
    extra = f", {synthetic} synthetic (not judged)" if synthetic else ""
    print(f"{result.start:%Y-%m-%d %H}:00 UTC  {result.events} events, {result.bad_lines} bad lines{extra}")
    for group in result.groups:
        verdict = "judged" if group.judged else "not judged"
        print(f"  {group.api_version} {group.model_version}: {group.events} events ({verdict}) {group.note}")
        flagged = [f for f in group.features if f.status in ("warning", "info")]
        for feature in sorted(flagged, key=lambda f: -(f.psi or 0)):
            print(f"    {feature.status:<8} {feature.name:<28} PSI {feature.psi:.3f}")
        p = group.prediction
        if p.yes_rate is not None and p.reference_yes_rate is not None:
            print(
                f"    yes rate {100 * p.yes_rate:.1f}% (reference {100 * p.reference_yes_rate:.1f}%), "
                f"mean probability {p.mean_probability:.3f}, uncertain {100 * (p.uncertain_share or 0):.1f}%"
            )
        for alert in group.alerts:
            print(f"    ALERT {alert.tier}: {alert.message}")


@command(
    "drift", "compute input and prediction drift for archive hours (catch-up by default)", _configure_drift
)
def _drift(args: argparse.Namespace) -> int:
    from propensity.archive.hours import hours_between, parse_hour, parse_time
    from propensity.archive.store import open_archive
    from propensity.drift.job import DriftJob, FutureTimeError
    from propensity.drift.publish import LocalMetricsPublisher
    from propensity.drift.report import render_html
    from propensity.drift.runtime import ManifestReferences
    from propensity.query.factory import open_engine
    from propensity.registry.factory import open_registry
    from propensity.registry.manifests import RegistryManifests

    store = open_archive(args.archive)
    publisher = LocalMetricsPublisher(Path(args.metrics) if args.metrics else None)
    engine = open_engine(str(args.archive or store.location))
    job = DriftJob(
        store, engine, ManifestReferences(RegistryManifests(open_registry(args.registry))), publisher
    )
    hours = [parse_hour(h) for h in args.hour]
    if args.start or args.end:
        if not (args.start and args.end):
            print("error: --from and --to go together", file=sys.stderr)
            return 2
        hours += hours_between(parse_hour(args.start), parse_hour(args.end))
    try:
        if hours:
            summary = job.run_hours(hours, force=args.force)
        else:
            summary = job.run_due(parse_time(args.now) if args.now else datetime.now(UTC))
    except FutureTimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    empty = [o.start for o in summary.computed if not o.result.events and not o.result.bad_lines]
    for outcome in summary.computed:
        if outcome.start not in empty:
            _print_result(outcome.result)
    if empty:
        span = f"{empty[0]:%Y-%m-%d %H}:00" + (f" .. {empty[-1]:%Y-%m-%d %H}:00" if len(empty) > 1 else "")
        print(f"{len(empty)} hour(s) with no events ({span} UTC)")
    if summary.already_published:
        print(
            f"{len(summary.already_published)} hour(s) published before with these figures: not re-published"
        )
    for hour in summary.unchanged:
        print(f"{hour:%Y-%m-%d %H}:00 UTC  unchanged since its stored result (use --force to recompute)")
    for hour, reason in summary.failed.items():
        print(f"{hour:%Y-%m-%d %H}:00 UTC  FAILED: {reason}", file=sys.stderr)
    print(f"watermark: {summary.watermark:%Y-%m-%d %H}:00 UTC" if summary.watermark else "watermark: (none)")
    from propensity.alerting.local import route_local_alerts

    route_local_alerts([outcome.result for outcome in summary.computed], archive=store)
    if args.report and summary.computed:
        Path(args.report).write_text(render_html(summary.computed[-1].result))
        print(f"report: {args.report}")
    return 1 if summary.failed else 0


def _configure_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", default=None, help="archive folder or s3://bucket ($PROPENSITY_ARCHIVE)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--hour", help="report one hour's stored result, e.g. 2026-11-26T10")
    which.add_argument("--day", help="report a day's aggregate, e.g. 2026-11-26")
    parser.add_argument("--out", required=True, help="HTML file to write")
    parser.add_argument("--no-plots", action="store_true", help="tables only")


@command("drift-report", "write the HTML drift report of a stored hour or day", _configure_report)
def _drift_report(args: argparse.Namespace) -> int:
    from propensity.archive.hours import parse_hour
    from propensity.archive.store import open_archive
    from propensity.drift.report import render_html
    from propensity.drift.state import DriftState

    state = DriftState(open_archive(args.archive))
    result = (
        state.load_window(parse_hour(args.hour))
        if args.hour
        else state.load_daily(date.fromisoformat(args.day))
    )
    if result is None:
        print(
            f"error: no stored drift result for {args.hour or args.day}; run `propensity drift` first",
            file=sys.stderr,
        )
        return 1
    Path(args.out).write_text(render_html(result, plots=not args.no_plots))
    print(f"report: {args.out}")
    return 0


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="bank.zip or bank-full.csv ($BANK_MARKETING_DATA)")
    parser.add_argument(
        "--out", default=".local/drift-demo", help="folder for the registry, archive and report"
    )
    parser.add_argument("--train-share", type=float, default=0.6, help="earliest share of rows to train on")
    parser.add_argument(
        "--hours", type=int, default=6, help="hours of synthetic traffic to replay the rest over"
    )


@command(
    "drift-demo", "train on the early data, replay the later data as traffic, run drift", _configure_demo
)
def _drift_demo(args: argparse.Namespace) -> int:
    from propensity_demo.drift_scenario import run_replay_scenario

    outcome = run_replay_scenario(
        Path(args.out),
        data=Path(args.data) if args.data else None,
        train_share=args.train_share,
        hours=args.hours,
    )
    for result in outcome.results:
        _print_result(result)
    print(f"replayed through: {outcome.replayed_through}")
    print("seconds: " + ", ".join(f"{name} {value:.1f}" for name, value in outcome.timings.items()))
    print(f"report: {outcome.report_path}")
    return 0

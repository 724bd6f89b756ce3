"""``propensity shadow`` and ``shadow-report``: shadow scoring on a local archive, and its report.

propensity shadow --from 2026-11-26T08 --to 2026-11-26T14          # score the window's objects
propensity shadow-report --api v1 --from 2026-11-26T08 --to 2026-11-26T14 --out shadow.html
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from propensity.cli import command
from propensity.constants import API_VERSIONS


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", default=None, help="archive folder or s3://bucket ($PROPENSITY_ARCHIVE)")
    parser.add_argument("--from", dest="start", required=True, help="first hour, e.g. 2026-11-26T08")
    parser.add_argument("--to", dest="end", required=True, help="hour after the last one, e.g. 2026-11-26T14")


def _configure_shadow(parser: argparse.ArgumentParser) -> None:
    _window(parser)
    parser.add_argument("--registry", default=None, help="registry folder or s3://... ($PROPENSITY_REGISTRY)")


@command("shadow", "score archived predictions of a window with the registry's challenger", _configure_shadow)
def _shadow(args: argparse.Namespace) -> int:
    from propensity.archive.hours import parse_hour
    from propensity.archive.reader import window_objects
    from propensity.archive.store import open_archive
    from propensity.drift.publish import LocalMetricsPublisher
    from propensity.registry.factory import open_registry
    from propensity.shadow.challenger import ChallengerCache
    from propensity.shadow.scorer import ShadowScorer

    store = open_archive(args.archive)
    objects = window_objects(store, parse_hour(args.start), parse_hour(args.end))
    with tempfile.TemporaryDirectory(prefix="challengers-") as cache:
        scorer = ShadowScorer(
            store, ChallengerCache(open_registry(args.registry), Path(cache)), LocalMetricsPublisher()
        )
        for info in objects:
            summary = scorer.score_object(info.key)
            for api in summary.apis:
                agreement = "n/a" if api.agreement_rate is None else f"{100 * api.agreement_rate:.1f}%"
                print(
                    f"{info.key}: {api.api_version} {api.scored}/{api.events} scored by "
                    f"{api.challenger_version or '-'}, agreement {agreement} {api.note}"
                )
    if not objects:
        print("no archive objects in that window", file=sys.stderr)
        return 1
    return 0


def _configure_report(parser: argparse.ArgumentParser) -> None:
    _window(parser)
    parser.add_argument("--api", choices=API_VERSIONS, default="v1")
    parser.add_argument("--out", required=True, help="HTML file to write")
    parser.add_argument("--json", default=None, help="also write the figures as JSON here")
    parser.add_argument("--no-labels", action="store_true", help="ignore ingested outcomes")
    parser.add_argument("--no-plots", action="store_true", help="tables only")


@command("shadow-report", "compare champion and challenger on a window's shadow results", _configure_report)
def _shadow_report(args: argparse.Namespace) -> int:
    from propensity.archive.hours import parse_hour
    from propensity.archive.store import open_archive
    from propensity.shadow.report import outcomes_from_store, render_html, shadow_report

    store = open_archive(args.archive)
    outcomes = {} if args.no_labels else outcomes_from_store(store)
    report = shadow_report(store, args.api, parse_hour(args.start), parse_hour(args.end), outcomes)
    Path(args.out).write_text(render_html(report, plots=not args.no_plots))
    if args.json:
        Path(args.json).write_text(json.dumps(report.model_dump(mode="json"), indent=1))
    for pair in report.pairs:
        print(
            f"{pair.champion_version} vs {pair.challenger_version}: {pair.rows} rows, agreement "
            f"{100 * pair.agreement_rate:.1f}%, mean |difference| {pair.mean_abs_difference:.4f}, "
            f"labelled rows {pair.labelled.rows if pair.labelled else 0}"
        )
        interval = pair.labelled.roc_auc_difference if pair.labelled else None
        if interval is not None and None not in (interval.difference, interval.low, interval.high):
            print(
                f"  ROC AUC difference {interval.difference:+.4f}, {100 * interval.confidence:.0f}% paired "
                f"bootstrap CI [{interval.low:+.4f}, {interval.high:+.4f}]"
            )
    print(f"report: {args.out}")
    return 0 if report.rows else 1

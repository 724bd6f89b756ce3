"""``propensity evaluate``, ``propensity ingest-labels`` and ``propensity evaluate-demo``.

Thin wrappers over ``propensity.evaluation`` and ``propensity.labels`` on local folders (or
any ``s3://`` location the archive and registry factories accept).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from propensity.cli import command
from propensity.constants import API_VERSIONS

if TYPE_CHECKING:
    from propensity.evaluation.models import RunSummary

ARCHIVE_HELP = "archive location: a folder or s3://bucket[/prefix] ($PROPENSITY_ARCHIVE, else .local/archive)"


def _quiet_logs() -> None:
    """The jobs log JSON lines for CloudWatch; at a terminal the printed summary says it all."""
    from propensity.observability import logger

    logger.setLevel(os.environ.get("LOG_LEVEL", "WARNING"))


def _moment(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def print_summary(summary: RunSummary) -> None:
    """The run in a few lines: per window realised vs estimated, the alarms, where the report is."""
    print(
        f"evaluated {len(summary.windows)} window(s): {summary.events_read} predictions, "
        f"{summary.outcomes_loaded} outcomes from {summary.outcome_files} file(s), "
        f"{summary.unmatched_outcomes} outcomes without a prediction in the span"
    )
    print(
        f"{'api':<4} {'model':<16} {'window':<10} {'preds':>6} {'cover':>6} {'F1':>6} {'F1 est':>6} "
        f"{'conv':>6} {'ECE':>6}  CBPE"
    )
    for r in summary.results:
        f1 = f"{r.realised.f1:.3f}" if r.realised else "–"
        ece = f"{r.realised.ece:.3f}" if r.realised else "–"
        conv = (
            f"{r.business.conversion_rate:.3f}"
            if r.business and r.business.conversion_rate is not None
            else "–"
        )
        est = f"{r.estimated.f1:.3f}" if r.estimated.f1 is not None else "–"
        thin = "*" if r.coverage.thin else " "
        print(
            f"{r.api_version:<4} {r.model_version:<16} {r.window.label:<10} {r.coverage.predictions:>6} "
            f"{r.coverage.share:>5.0%}{thin} {f1:>6} {est:>6} {conv:>6} {ece:>6}  {r.estimated.trust}"
        )
    print("(* thin label coverage: realised figures are provisional)")
    for r in summary.results:
        s = r.signals
        if s.f1_warning:
            print(
                f"WARNING {r.api_version} {r.model_version} {r.window.label}: "
                f"F1 dropped {s.f1_drop_relative:.1%} against the manifest"
            )
        if s.conversion_warning:
            print(
                f"WARNING {r.api_version} {r.model_version} {r.window.label}: conversion dropped "
                f"{s.conversion_drop_relative:.1%} ({s.baseline_conversion_source})"
            )
        if s.ece_info:
            print(
                f"INFO    {r.api_version} {r.model_version} {r.window.label}: ECE {s.ece:.3f} above the bound"
            )
    print(f"report: {summary.report_key}")


def _configure_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", default=None, help=ARCHIVE_HELP)
    parser.add_argument("--registry", default=None, help="registry location ($PROPENSITY_REGISTRY)")
    parser.add_argument("--now", default=None, help="evaluate the lookback before this time (default: now)")
    parser.add_argument("--start", default=None, help="evaluate the windows from this date instead ...")
    parser.add_argument("--end", default=None, help="... up to this date (exclusive)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


@command("evaluate", "join archived predictions with outcomes and evaluate each window", _configure_evaluate)
def _evaluate(args: argparse.Namespace) -> int:
    _quiet_logs()
    from propensity.archive.store import ARCHIVE_ENV, DEFAULT_ARCHIVE
    from propensity.evaluation.runtime import EvaluationRequest, EvaluationSettings, run_requested
    from propensity.registry.factory import DEFAULT_REGISTRY, REGISTRY_ENV

    if (args.start is None) != (args.end is None):
        print("error: give both --start and --end, or neither", file=sys.stderr)
        return 2
    settings = EvaluationSettings(
        archive_location=args.archive or os.environ.get(ARCHIVE_ENV) or str(DEFAULT_ARCHIVE),
        registry_location=args.registry or os.environ.get(REGISTRY_ENV) or str(DEFAULT_REGISTRY),
        metrics_backend="local",
        with_plots=not args.no_plots,
    )
    request = EvaluationRequest(
        now=_moment(args.now) if args.now else datetime.now(UTC),
        start=_moment(args.start) if args.start else None,
        end=_moment(args.end) if args.end else None,
    )
    from propensity.alerting.local import route_local_alerts

    summary = run_requested(request, settings)
    print_summary(summary)
    route_local_alerts(list(summary.results), archive=settings.archive_location)
    return 0


def _configure_ingest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", default=None, help=ARCHIVE_HELP)
    parser.add_argument(
        "files",
        nargs="*",
        help="local label files to drop into labels/ and ingest, or keys already under labels/ "
        "(default: every file under labels/)",
    )


@command("ingest-labels", "validate and store outcome files dropped under labels/", _configure_ingest)
def _ingest(args: argparse.Namespace) -> int:
    _quiet_logs()
    from propensity.archive.store import open_archive
    from propensity.labels.ingest import ingest_all, ingest_object
    from propensity.labels.layout import LABELS_PREFIX

    store = open_archive(args.archive)
    if args.files:
        results = []
        for name in args.files:
            local = Path(name)
            key = name
            if local.is_file():
                key = LABELS_PREFIX + local.name
                store.put(key, local.read_bytes())
            results.append(ingest_object(store, key))
    else:
        results = ingest_all(store)
    for r in results:
        state = "already ingested (not counted again)" if r.duplicate else "ingested"
        rejects = f", rejects in {r.record.rejects_key}" if r.record.rejects_key else ""
        print(f"{r.key}: {state}: {r.record.accepted} accepted, {r.record.rejected} rejected{rejects}")
    if not results:
        print(f"no label files under {LABELS_PREFIX} in {store.location}")
    # A file with nothing kept is a failed delivery the sender must hear about (exit 2).
    whole = [r for r in results if r.record.fully_rejected]
    for r in whole:
        print(f"error: {r.key}: nothing accepted (see {r.record.rejects_key})", file=sys.stderr)
    return 2 if whole else 0


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="bank.zip or bank-full.csv ($BANK_MARKETING_DATA)")
    parser.add_argument("--workdir", default=".local/evaluation-demo", help="where everything is written")
    parser.add_argument("--api", choices=API_VERSIONS, default="v1")
    parser.add_argument("--weeks", type=int, default=6, help="weeks the later rows are spread over")
    parser.add_argument("--bundle", default=None, help="an already trained early-data bundle (skip training)")
    parser.add_argument("--no-plots", action="store_true")


@command(
    "evaluate-demo",
    "train on the earlier 60%% of the real data, replay the rest as traffic, drop its outcomes, evaluate",
    _configure_demo,
)
def _demo(args: argparse.Namespace) -> int:
    _quiet_logs()
    from propensity_demo.evaluation_scenario import ReplayPlan, run_scenario

    from propensity.data.loader import load_bank_marketing

    workdir = Path(args.workdir)
    if (workdir / "archive").exists() or (workdir / "registry").exists():
        print(f"error: {workdir} already holds a demo; remove it or pass another --workdir", file=sys.stderr)
        return 2
    workdir.mkdir(parents=True, exist_ok=True)
    result = run_scenario(
        load_bank_marketing(Path(args.data) if args.data else None),
        workdir,
        ReplayPlan(api=args.api, weeks=args.weeks),
        bundle_path=Path(args.bundle) if args.bundle else None,
        progress=lambda message: print(f"  {message}", flush=True),
        with_plots=not args.no_plots,
    )
    print_summary(result.summary)
    print(f"report file: {result.archive / (result.summary.report_key or '')}")
    print("timings: " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()))
    return 0

"""``propensity dashboard``, ``propensity alerts`` and ``propensity digest --local``: the watching side.

propensity dashboard --out dashboard.html          # the one monitoring page (self-contained HTML)
propensity alerts                                  # alarms in ALARM now, and the last changes
propensity alerts --test                           # send a test alarm through the configured routes
propensity digest --local                          # the last 24 hours, as the daily digest says it
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from propensity.cli import command

ARCHIVE_HELP = "archive folder or s3://bucket ($PROPENSITY_ARCHIVE, else .local/archive)"


def _alerts_dir(args: argparse.Namespace) -> Path:
    from propensity.alerting.local import LocalAlertSettings
    from propensity.archive.store import open_archive

    if args.alerts_dir:
        return Path(args.alerts_dir)
    return LocalAlertSettings.from_env(archive=open_archive(getattr(args, "archive", None))).directory


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", default=None, help=ARCHIVE_HELP)
    parser.add_argument(
        "--alerts-dir", default=None, help="local alert state ($PROPENSITY_ALERTS_DIR, else <archive>/alerts)"
    )
    parser.add_argument("--end", default=None, help="end of the window, e.g. 2026-11-26T12 (default: now)")


def _configure_dashboard(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument(
        "--out", default="dashboard.html", help="HTML file to write (default: dashboard.html)"
    )
    parser.add_argument(
        "--hours", type=int, default=24, help="hours of traffic and drift to show (default 24)"
    )


@command(
    "dashboard",
    "write the one monitoring page: traffic, latency, drift, evaluation, alerts",
    _configure_dashboard,
)
def _dashboard(args: argparse.Namespace) -> int:
    from propensity.archive.hours import floor_hour
    from propensity.archive.store import open_archive
    from propensity.dashboard.data import gather
    from propensity.dashboard.page import render_page

    if not 1 <= args.hours <= 24 * 31:
        print("error: --hours must be between 1 and 744", file=sys.stderr)
        return 2
    end = _moment(args.end)
    data = gather(
        open_archive(args.archive),
        _alerts_dir(args),
        end=floor_hour(end) + timedelta(hours=1) if end else None,
        hours=args.hours,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(data))
    out.chmod(0o644)  # a page to share, not a secret
    print(
        f"dashboard: {out} ({data.total_requests():,} requests, {len(data.active_alerts)} active alerts, "
        f"{data.start:%Y-%m-%d %H:%M} to {data.end:%Y-%m-%d %H:%M} UTC)"
    )
    return 0


def _configure_alerts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", default=None, help=ARCHIVE_HELP)
    parser.add_argument(
        "--alerts-dir", default=None, help="local alert state ($PROPENSITY_ALERTS_DIR, else <archive>/alerts)"
    )
    parser.add_argument(
        "--test", action="store_true", help="raise and resolve a test alarm through every configured route"
    )


@command("alerts", "local alarms in ALARM now and their last state changes", _configure_alerts)
def _alerts(args: argparse.Namespace) -> int:
    from propensity.alerting.local import LocalAlertRouter, LocalAlertSettings, active_alarms, read_log
    from propensity.alerting.local_catalogue import LocalAlarmSpec, Observation

    settings = LocalAlertSettings.from_env()
    settings.directory = _alerts_dir(args)
    if args.test:
        spec = LocalAlarmSpec(
            "route-test-warning", "alert-routing", "warning", "A test of the local alert routes"
        )
        router = LocalAlertRouter(settings)
        now = datetime.now(UTC)
        for breaching, moment in ((True, now), (False, now + timedelta(seconds=1))):
            for entry in router.route(
                [Observation(spec, moment, breaching, "propensity alerts --test")], source="test"
            ):
                print(f"  {entry.new_state}: " + ", ".join(f"{k} {v}" for k, v in entry.deliveries.items()))
        return 0
    active = active_alarms(settings.directory)
    print(f"{len(active)} alarm(s) in ALARM ({settings.directory})")
    for record in active:
        since = f"{record.since:%Y-%m-%d %H:%M} UTC" if record.since else "?"
        print(f"  [{record.tier}] {record.name} since {since}: {record.reason}")
    recent = read_log(settings.directory)[-10:]
    if recent:
        print("last state changes:")
        for e in recent:
            print(f"  {e.at:%Y-%m-%d %H:%M} {e.alarm} {e.old_state} -> {e.new_state}")
    return 0


def _configure_digest(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument(
        "--local", action="store_true", required=True, help="from the local alert log and archive"
    )
    parser.add_argument("--slack", action="store_true", help="also post it to $PROPENSITY_ALERT_SLACK_URL")


@command("digest", "the daily digest of the last 24 hours (--local: from the local files)", _configure_digest)
def _digest(args: argparse.Namespace) -> int:
    from propensity.alerting.digest import digest_slack_message, digest_text
    from propensity.alerting.local import LocalAlertSettings
    from propensity.alerting.local_digest import local_digest
    from propensity.alerting.retry import DeliveryError
    from propensity.alerting.slack import SlackNotifier
    from propensity.archive.hours import floor_hour
    from propensity.archive.store import open_archive

    settings = LocalAlertSettings.from_env()
    end = floor_hour(_moment(args.end) or datetime.now(UTC)) + timedelta(hours=1)
    digest = local_digest(open_archive(args.archive), _alerts_dir(args), end, settings.runbook_url)
    print(digest_text(digest, settings.dashboard_url), end="")
    if args.slack:
        if not settings.slack_url:
            print("error: --slack needs PROPENSITY_ALERT_SLACK_URL", file=sys.stderr)
            return 2
        slack = SlackNotifier(
            webhook_url=lambda: settings.slack_url or "", links=settings.links, policy=settings.retry
        )
        try:
            slack.post(digest_slack_message(digest, settings.dashboard_url))
        except DeliveryError as error:
            print(f"error: digest not delivered: {error}", file=sys.stderr)
            return 1
        print("posted to Slack")
    return 0

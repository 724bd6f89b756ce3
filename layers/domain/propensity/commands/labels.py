"""Dead-letter redrives: ``propensity labels-redrive`` and ``propensity alerts-redrive``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from propensity.cli import command

if TYPE_CHECKING:
    from propensity.deadletter import RedriveSummary


def report(summary: RedriveSummary) -> int:
    """Print what a redrive did; exit 1 when anything is still queued."""
    queued = f"failed {summary.failed} (still queued), unreadable {summary.unreadable}"
    print(f"redriven {summary.redriven}, {queued}")
    for line in summary.errors:
        print(f"  {line}", file=sys.stderr)
    return 0 if summary.ok else 1


def _configure_redrive(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue-url", required=True, help="the labels dead-letter queue (stack output)")
    parser.add_argument("--archive", required=True, help="the archive bucket, s3://name (ARCHIVE_LOCATION)")
    parser.add_argument("--limit", type=int, default=100, help="messages to redrive at most (1-1000)")
    parser.add_argument("--region", default=None, help="AWS region of the queue ($AWS_REGION)")


@command(
    "labels-redrive", "ingest the label files of failed notifications left in the DLQ", _configure_redrive
)
def _redrive(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        raise ValueError(f"--limit must be between 1 and 1000, got {args.limit}")
    if not args.queue_url.startswith("https://"):
        raise ValueError(f"--queue-url must be an SQS queue URL (https://...), got {args.queue_url!r}")
    if not args.archive.startswith("s3://") or not args.archive.removeprefix("s3://").strip("/"):
        raise ValueError(f"--archive must be s3://bucket[/prefix], got {args.archive!r}")
    import boto3

    from propensity.archive.store import open_archive
    from propensity.labels.redrive import redrive_labels
    from propensity.labels.runtime import LabelSettings

    settings = LabelSettings(archive_location=args.archive)
    sqs = boto3.client("sqs", region_name=args.region)
    summary = redrive_labels(sqs, args.queue_url, open_archive(args.archive), settings, limit=args.limit)
    return report(summary)


def _configure_alerts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--queue-url", required=True, help="the alert dead-letter queue (AlertDeadLetterQueueUrl)"
    )
    parser.add_argument(
        "--function",
        default=None,
        help="notifier to send messages that do not name theirs (SNS subscription failures)",
    )
    parser.add_argument("--limit", type=int, default=100, help="messages to redrive at most (1-1000)")
    parser.add_argument("--region", default=None, help="AWS region of the queue ($AWS_REGION)")


@command(
    "alerts-redrive",
    "resend undelivered alerts in their alarm's current state (a resolved alarm sends a resolve)",
    _configure_alerts,
)
def _alerts(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        raise ValueError(f"--limit must be between 1 and 1000, got {args.limit}")
    if not args.queue_url.startswith("https://"):
        raise ValueError(f"--queue-url must be an SQS queue URL (https://...), got {args.queue_url!r}")
    import boto3

    from propensity.alerting.redrive import cloudwatch_describer, lambda_invoker, redrive_alerts

    summary = redrive_alerts(
        boto3.client("sqs", region_name=args.region),
        args.queue_url,
        describe=cloudwatch_describer(boto3.client("cloudwatch", region_name=args.region)),
        invoke=lambda_invoker(boto3.client("lambda", region_name=args.region)),
        default_function=args.function,
        limit=args.limit,
    )
    return report(summary)

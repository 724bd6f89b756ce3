"""Where an incident-path alias move is announced: the critical tier.

Locally (no topic configured) the alert goes to the console and the log at CRITICAL; with
``$PROPENSITY_CRITICAL_TOPIC_ARN`` it is also published to the stage's critical SNS topic,
whose notifiers page on-call (see RUNBOOK.md). The move itself is recorded in the registry either way.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, Protocol

from propensity.alerting.tiers import Tier

CRITICAL_TOPIC_ENV = "PROPENSITY_CRITICAL_TOPIC_ARN"
logger = logging.getLogger("propensity.promotion")


class Alerter(Protocol):
    def alert(self, tier: Tier, summary: str, details: dict[str, Any]) -> None:
        """Raise an alert of ``tier``."""


class ConsoleAlerter:
    """The local default: a line on stderr and a CRITICAL log record."""

    def alert(self, tier: Tier, summary: str, details: dict[str, Any]) -> None:
        print(f"ALERT [{tier}] {summary}", file=sys.stderr)
        logger.critical("%s %s", summary, json.dumps(details, default=str, sort_keys=True))


class SnsAlerter(ConsoleAlerter):
    """Console, then an SNS publish to the tier's topic (the same topics the alarms use)."""

    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sns", region_name=topic_arn.split(":")[3] or None)
        self.topic_arn = topic_arn
        self.client = client

    def alert(self, tier: Tier, summary: str, details: dict[str, Any]) -> None:
        super().alert(tier, summary, details)
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=summary[:100],
            Message=json.dumps({"tier": tier, "summary": summary, **details}, default=str),
        )


def default_alerter() -> Alerter:
    topic = os.environ.get(CRITICAL_TOPIC_ENV)
    return SnsAlerter(topic) if topic else ConsoleAlerter()

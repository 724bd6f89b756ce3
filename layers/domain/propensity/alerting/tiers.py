"""The three alert tiers and what each one means for the people on call."""

from __future__ import annotations

from typing import Final, Literal

Tier = Literal["critical", "warning", "info"]
TIERS: Final[tuple[Tier, ...]] = ("critical", "warning", "info")

# Who hears about each tier (documented in RUNBOOK.md and docs/monitoring.md).
TIER_AUDIENCE: Final[dict[Tier, str]] = {
    "critical": "pages the on-call engineer through PagerDuty (and posts to Slack)",
    "warning": "posts to the team's Slack channel",
    "info": "appears in the daily digest (Slack and email)",
}

# PagerDuty Events API v2 severities (critical, error, warning, info), mapped from the tier.
PAGERDUTY_SEVERITY: Final[dict[Tier, str]] = {"critical": "critical", "warning": "warning", "info": "info"}


def tier_from_topic_arn(topic_arn: str) -> Tier | None:
    """The tier a topic carries, from its name's suffix (``...:propensity-prod-critical``)."""
    name = topic_arn.rsplit(":", 1)[-1]
    for tier in TIERS:
        if name == tier or name.endswith(f"-{tier}"):
            return tier
    return None

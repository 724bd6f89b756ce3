"""The alarm description format: a readable summary plus a machine-readable trailer.

Every alarm's description says what it means, its tier and where its runbook entry is, so
the notifiers can link the runbook and a person reading the raw alarm can too. The format is
written by the alarm catalogue (infra) and parsed by the notifiers: both use this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, cast

from propensity.alerting.tiers import TIERS, Tier

# CloudWatch rejects alarm descriptions longer than this.
MAX_DESCRIPTION_CHARS: Final[int] = 1024

_TRAILER = re.compile(r"\[tier: (?P<tier>critical|warning|info)\]|Runbook: (?P<runbook>\S+)")
_ANCHOR = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class AlarmDescription:
    """What an alarm means, its tier and its runbook entry."""

    summary: str
    tier: Tier | None = None
    runbook: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> AlarmDescription:
        """Read a description written by :func:`describe_alarm` (free text is kept as summary)."""
        text = (text or "").strip()
        tier: Tier | None = None
        runbook: str | None = None
        for match in _TRAILER.finditer(text):
            if match.group("tier"):
                tier = cast(Tier, match.group("tier"))
            if match.group("runbook"):
                runbook = match.group("runbook")
        summary = _TRAILER.sub("", text).strip().rstrip(".").strip()
        return cls(summary=summary, tier=tier, runbook=runbook)


def runbook_link(runbook_url: str, anchor: str) -> str:
    """The URL of one runbook entry (``RUNBOOK.md#<anchor>``)."""
    if not _ANCHOR.match(anchor):
        raise ValueError(f"runbook anchor {anchor!r} must be lower-case words joined by hyphens")
    return f"{runbook_url.split('#', 1)[0]}#{anchor}"


def describe_alarm(*, summary: str, tier: Tier, runbook_url: str, anchor: str) -> str:
    """An alarm description: ``<summary>. [tier: <tier>] Runbook: <url>#<anchor>``."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    text = f"{summary.strip().rstrip('.')}. [tier: {tier}] Runbook: {runbook_link(runbook_url, anchor)}"
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise ValueError(
            f"alarm description is {len(text)} characters; CloudWatch allows {MAX_DESCRIPTION_CHARS}"
        )
    return text

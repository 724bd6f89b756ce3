"""Approvals: one sealed, create-only ``approval`` record per approver and model version.

The record's name is the approver's name (slugged), so the store itself refuses a second
approval by the same person, and approvals written at the same moment by different people can
never overwrite each other (each is its own object).
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field

from propensity.constants import ApiVersion
from propensity.registry.registry import Registry

APPROVAL_KIND = "approval"


class Approval(BaseModel):
    """A named person's sign-off: who, when, what they reviewed, and a note."""

    approver: str
    model_version: str
    at: datetime
    reviewed: list[str] = Field(default_factory=list)  # e.g. the gate record, a shadow report
    note: str = ""


def approver_slug(approver: str) -> str:
    """The record name for an approver: lower-case letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", approver.strip().lower()).strip("-")
    if not slug:
        raise ValueError(f"approver name {approver!r} has no letters or digits")
    return slug[:100]


def approvals(registry: Registry, api_version: ApiVersion, model_version: str) -> list[Approval]:
    """A version's verified approvals, oldest first."""
    found = []
    for record in registry.records(APPROVAL_KIND, api_version, model_version):
        approval = Approval.model_validate(record.body)
        if approval.model_version == model_version:
            found.append(approval)
    return found

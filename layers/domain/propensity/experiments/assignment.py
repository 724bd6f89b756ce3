"""Sticky assignment: a salted hash of the customer reference decides the arm.

``blake2b(salt, customer_ref)`` read as a number in [0, 1) puts the customer in the
challenger arm when it is below the challenger's share. The same customer always lands in the
same arm of one experiment (no state is stored, every Lambda environment agrees), a new salt
(a new experiment) reshuffles everyone, and the hash is keyed, so a customer reference alone
does not tell anyone outside which arm it is in.

A request without a ``customer_ref`` is assigned by its request id instead: sticky for that
request only, so the same customer may see both arms. The answer says so in a warning and the
PredictionEvent carries the same warning (its flag: ``FALLBACK_WARNING in event.warnings``); the
analysis counts such rows on their own (each is its own cluster in the bootstrap).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from propensity.constants import ExperimentArm

FALLBACK_WARNING: Final[str] = (
    "experiment: no customer_ref, the arm was chosen by request id (the same customer may see both arms)"
)
_SCALE: Final[float] = float(2**64)


def unit_interval(salt: str, key: str) -> float:
    """A uniform number in [0, 1) from the keyed hash of ``key``."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, key=salt.encode()[:64]).digest()
    return int.from_bytes(digest, "big") / _SCALE


def arm_of(salt: str, key: str, challenger_share: float) -> ExperimentArm:
    return "challenger" if unit_interval(salt, key) < challenger_share else "champion"


@dataclass(frozen=True)
class Assignment:
    arm: ExperimentArm
    by_request_id: bool


def assign(salt: str, challenger_share: float, customer_ref: str | None, request_id: str) -> Assignment:
    """The arm of one record: by customer when it has a reference, else by request id."""
    if customer_ref:
        return Assignment(arm_of(salt, "customer:" + customer_ref, challenger_share), False)
    return Assignment(arm_of(salt, "request:" + request_id, challenger_share), True)

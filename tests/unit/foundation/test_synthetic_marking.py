"""Synthetic traffic is marked at its source: the probe and the deployment hooks send the header."""

from __future__ import annotations

from propensity.constants import SYNTHETIC_HEADER
from propensity.deployment.requests import HOOK_SENDER, proxy_event


def test_hook_requests_carry_the_synthetic_header_in_both_header_sets():
    event = proxy_event("POST", "/v1/predict", {"age": 40})
    assert event["headers"][SYNTHETIC_HEADER] == HOOK_SENDER
    assert event["multiValueHeaders"][SYNTHETIC_HEADER] == [HOOK_SENDER]

"""Sticky salted-hash assignment: one customer one arm, the share honoured, a new salt reshuffles."""

from __future__ import annotations

import math

from propensity.experiments.assignment import FALLBACK_WARNING, arm_of, assign, unit_interval


def test_a_customer_always_gets_the_same_arm():
    arms = {arm_of("salt-one-0123", f"customer:c{i}", 0.3) for i in range(1)}
    for i in range(2000):
        key = f"customer:c{i}"
        first = arm_of("salt-one-0123", key, 0.3)
        assert all(arm_of("salt-one-0123", key, 0.3) == first for _ in range(3))
    assert arms <= {"champion", "challenger"}


def test_the_challenger_share_is_honoured_within_sampling_error():
    n = 100_000
    for share in (0.05, 0.2, 0.5):
        hits = sum(arm_of("share-salt-99", f"customer:{i}", share) == "challenger" for i in range(n))
        sigma = math.sqrt(share * (1 - share) / n)
        assert abs(hits / n - share) < 4 * sigma, (share, hits / n)


def test_the_hash_is_uniform_across_deciles():
    values = [unit_interval("uniform-salt", f"k{i}") for i in range(50_000)]
    counts = [0] * 10
    for v in values:
        assert 0.0 <= v < 1.0
        counts[int(v * 10)] += 1
    expected = len(values) / 10
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    assert chi2 < 27.9  # 99.9th percentile of chi-square with 9 degrees of freedom


def test_a_new_salt_reassigns_customers_independently():
    n = 20_000
    a = [arm_of("first-salt-abc", f"customer:{i}", 0.5) for i in range(n)]
    b = [arm_of("second-salt-xyz", f"customer:{i}", 0.5) for i in range(n)]
    agreement = sum(x == y for x, y in zip(a, b, strict=True)) / n
    # Independent assignments agree half the time; the same salt would agree always.
    assert abs(agreement - 0.5) < 0.02


def test_a_larger_share_only_moves_customers_into_the_challenger():
    # Same salt: raising the share never moves a challenger customer back to the champion.
    for i in range(5000):
        if arm_of("ramp-salt-123", f"customer:{i}", 0.1) == "challenger":
            assert arm_of("ramp-salt-123", f"customer:{i}", 0.3) == "challenger"


def test_without_a_customer_ref_the_request_id_decides_and_says_so():
    with_ref = assign("fallback-salt", 0.5, "cust-1", "req-1")
    assert not with_ref.by_request_id
    assert assign("fallback-salt", 0.5, "cust-1", "req-2").arm == with_ref.arm  # the request id is ignored
    fallback = assign("fallback-salt", 0.5, None, "req-1")
    assert fallback.by_request_id
    assert assign("fallback-salt", 0.5, "", "req-1").by_request_id
    assert fallback.arm == assign("fallback-salt", 0.5, None, "req-1").arm
    assert "customer_ref" in FALLBACK_WARNING

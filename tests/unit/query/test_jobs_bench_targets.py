"""The jobs benchmark's verdict rows: a target per job, met or not, and memory flatness."""

from tests.perf.jobs_bench import memory_rows, target_rows


def _result(n, drift_x, eval_x, drift_rss=800.0, eval_rss=600.0):
    return {
        "n_events": n,
        "drift": {"seconds": drift_x * 10, "x_floor": drift_x, "peak_rss_mib": drift_rss},
        "evaluation": {"seconds": eval_x * 10, "x_floor": eval_x, "peak_rss_mib": eval_rss},
    }


def test_each_job_gets_its_own_target_and_verdict():
    rows = target_rows(_result(10_000_000, drift_x=2.0, eval_x=3.2))
    assert [(r["target"], r["met"]) for r in rows] == [("<= 2x floor", True), ("<= 3x floor", False)]
    assert rows[0]["name"] == "drift job, 10,000,000 events"


def test_memory_is_flat_only_within_the_slack():
    small = _result(1_000_000, 1, 1, drift_rss=800.0, eval_rss=600.0)
    large = _result(10_000_000, 1, 1, drift_rss=1100.0, eval_rss=700.0)
    rows = memory_rows({1_000_000: small, 10_000_000: large})
    assert [(r["ratio"], r["met"]) for r in rows] == [(1.38, False), (1.17, True)]
    assert memory_rows({1_000_000: small}) == []

"""The local server's replay clock: replays land in ended hours, never in the future."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from propensity.service.core.http import Incoming, request_info
from propensity.service.server import MAX_CLOCK_LAG, ReplayClock, parse_clock_start

NOW = datetime(2026, 12, 1, 12, 7, tzinfo=UTC)


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h-ago", NOW - timedelta(hours=2)),
        ("-2h", NOW - timedelta(hours=2)),
        ("90m-ago", NOW - timedelta(minutes=90)),
        ("1.5d-ago", NOW - timedelta(days=1.5)),
        ("2026-11-30T09:00", datetime(2026, 11, 30, 9, tzinfo=UTC)),
        ("2026-11-30T10:00+01:00", datetime(2026, 11, 30, 9, tzinfo=UTC)),
    ],
)
def test_clock_start_is_relative_or_an_iso_time(text, expected):
    assert parse_clock_start(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-12-01T13:00", "in the future"),
        ("in two hours", "expected a time in the past"),
        ("2h", "expected a time in the past"),  # ambiguous: ahead or behind?
        (f"{MAX_CLOCK_LAG.days + 1}d-ago", "more than 31 days back"),
    ],
)
def test_a_clock_start_that_is_not_a_past_moment_is_refused_with_the_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_clock_start(text, NOW)


def test_the_clock_runs_from_its_start_at_its_speed_and_never_past_the_real_clock():
    # Given a clock two hours back at 60x, with real time and monotonic time under the test's hand
    real, ticks = [NOW], Ticks()
    clock = ReplayClock(NOW - timedelta(hours=2), speed=60, real=lambda: real[0], monotonic=ticks)
    # Then it starts at its start, and a real minute moves it an hour
    assert clock() == NOW - timedelta(hours=2)
    ticks.seconds += 60
    real[0] += timedelta(minutes=1)
    assert clock() == NOW - timedelta(hours=1)
    assert not clock.caught_up
    # When it would overtake the real clock, it stamps real time instead (never the future)
    ticks.seconds += 180
    real[0] += timedelta(minutes=3)
    assert clock() == real[0] and clock.caught_up


def test_a_wall_clock_step_does_not_move_the_replay_clock():
    # Given a replay clock and the wall clock stepped back a minute (NTP), monotonic time unmoved
    real, ticks = [NOW], Ticks()
    clock = ReplayClock(NOW - timedelta(hours=2), real=lambda: real[0], monotonic=ticks)
    real[0] -= timedelta(minutes=1)
    ticks.seconds += 5
    # Then the stamps follow monotonic time
    assert clock() == NOW - timedelta(hours=2) + timedelta(seconds=5)


@pytest.mark.parametrize("speed", [0, -1, 3601])
def test_a_speed_out_of_bounds_is_refused(speed):
    with pytest.raises(ValueError, match="--clock-speed"):
        ReplayClock(NOW - timedelta(hours=1), speed=speed)


def test_requests_are_stamped_by_the_clock_given_and_by_the_real_one_by_default():
    incoming = Incoming("POST", "/v1/predict", {})
    past = NOW - timedelta(hours=3)
    assert request_info(incoming, clock=lambda: past).received_at == past
    assert abs(request_info(incoming).received_at - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clock", "tomorrow"], "expected a time in the past"),
        (["--clock-speed", "60"], "--clock-speed needs --clock"),
        (["--clock", "2h-ago", "--clock-speed", "0"], "--clock-speed must be above 0"),
    ],
)
def test_serve_refuses_a_bad_clock_before_it_starts(args, message, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from propensity.cli import main; sys.exit(main())",
            "serve",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr

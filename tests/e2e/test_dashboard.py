"""The operator's watch, end to end: real rows through the local server, the drift job's alert
on a Slack stand-in, the one monitoring page, checked in headless Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import numpy as np
import pytest
from matplotlib import image

from propensity.archive.hours import hour_of_key
from tests.e2e.browser import dump_dom, screenshot
from tests.e2e.test_local_server import running_server
from tests.integration.stand_in import Reply, serve

V1_ROWS = 220
REPLAY_CLOCK = "2h-ago"  # the README's `propensity serve --clock 2h-ago`
V2_ROWS = 300
WIDTH, HEIGHT = 1400, 3000
SECTIONS = [
    "Active alerts",
    "Traffic and status codes",
    "Latency by phase",
    "Prediction mix and mean probability",
    "Input drift: PSI per feature and hour",
    "Evaluation over the weeks",
    "Shadow agreement",
    "v1 usage by consumer",
    "Experiments",
]


class _Dom(HTMLParser):
    """Headings and the ``data-figure`` rows' text of the rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.figures: dict[str, str] = {}
        self._tag: str | None = None
        self._figure: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self._tag = "h2"
            self.headings.append("")
        figure = dict(attrs).get("data-figure")
        if figure:
            self._figure, self._depth = figure, 0
            self.figures[figure] = ""
        if self._figure:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._tag = None
        if self._figure:
            self._depth -= 1
            if self._depth == 0:
                self._figure = None

    def handle_data(self, data: str) -> None:
        if self._tag == "h2":
            self.headings[-1] += data
        if self._figure:
            self.figures[self._figure] += data + " "


def _cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from propensity.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def replay_server(registry, tmp_path):
    """The local server as the README's walk-through starts it for a replay: its clock two
    hours back, so the replayed traffic lands in hours that have ended."""
    with running_server(registry, tmp_path, "--clock", REPLAY_CLOCK) as running:
        yield running


def _archived_hours(archive: Path) -> list[datetime]:
    keys = (str(f.relative_to(archive)) for f in archive.glob("predictions/*/*/*/*/*.jsonl.gz"))
    return sorted({hour for key in keys if (hour := hour_of_key(key)) is not None})


def test_replayed_traffic_alerts_and_shows_on_one_page_in_chromium(replay_server, registry, tmp_path):
    url, archive, workdir = replay_server
    server_env = {**os.environ, "LOG_LEVEL": "ERROR"}
    started = datetime.now(UTC)

    # Given the first rows of the real data (May 2008: every call in one month) replayed with
    # `propensity replay`: v1 singles, then v2 batches of 100
    replay = ["replay", "--url", url, "--quiet"]
    sent_v1 = _cli(*replay, "--api", "v1", "--rows", str(V1_ROWS), env=server_env, cwd=workdir)
    sent_v2 = _cli(
        *replay, "--api", "v2", "--offset", str(V1_ROWS), "--rows", str(V2_ROWS), "--batch", "100",
        env=server_env, cwd=workdir,
    )  # fmt: skip
    assert f"v1: {V1_ROWS} rows in {V1_ROWS} requests" in sent_v1 and "status: 200: " in sent_v1
    assert f"v2: {V2_ROWS} rows in 3 requests" in sent_v2 and "status: 200: 3" in sent_v2
    # And the server's replay clock put every event in an hour that has already ended
    hours = _archived_hours(archive)
    assert hours and all(h + timedelta(hours=1) <= started for h in hours), (hours, started)

    alerts = tmp_path / "alerts"
    with serve(Reply(200, b"ok")) as slack:
        env = {
            **server_env,
            "PROPENSITY_ALERTS_DIR": str(alerts),
            "PROPENSITY_ALERT_SLACK_URL": slack.url + "/hooks/e2e",
        }
        # When the drift job catches up as scheduled (the README's `propensity drift`), and the
        # replayed hours are recomputed (nothing is sent twice)
        common = ["--archive", str(archive), "--registry", str(registry.store.location)]
        first = _cli("drift", *common, env=env, cwd=workdir)
        hour_args = [a for h in hours for a in ("--hour", f"{h:%Y-%m-%dT%H}")]
        again = _cli("drift", *common, *hour_args, "--force", env=env, cwd=workdir)
        # Then the month's drift is a warning on Slack for each API version, once
        assert "ALERT [warning] propensity-local-drift-feature-psi-warning-v1 ALARM" in first
        assert "not re-published" in again
        posted = [r.json()["blocks"][0]["text"]["text"] for r in slack.requests]
        psi_posts = [t for t in posted if "drift-feature-psi-warning" in t]
        assert sorted(psi_posts) == sorted(
            f":rotating_light: [warning] propensity-local-drift-feature-psi-warning-{api} ALARM"
            for api in ("v1", "v2")
        )
        digest = _cli(
            "digest", "--local", "--archive", str(archive), "--alerts-dir", str(alerts), env=env, cwd=workdir
        )

    # And the local digest says what on-call received, with the day's traffic
    assert "WARNING alarms: " in digest and "propensity-local-drift-feature-psi-warning-v1" in digest
    assert f"Requests: {V1_ROWS + len(range(0, V2_ROWS, 100))}" in digest

    # When the page is written and opened in Chromium
    page = tmp_path / "dashboard.html"
    out = _cli(
        "dashboard", *common[:2], "--alerts-dir", str(alerts), "--out", str(page), env=env, cwd=workdir
    )
    assert "dashboard:" in out
    assert page.stat().st_mode & 0o044 == 0o044
    shot = screenshot(page, tmp_path / "dashboard.png", WIDTH, HEIGHT)
    dom = _Dom()
    dom.feed(dump_dom(page))

    # Then the screenshot is the page at its size, drawn (not blank)
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    rgb = pixels[..., :3]
    non_white = float(np.mean(rgb.min(axis=2) < 0.9))
    assert non_white > 0.05, f"only {non_white:.1%} of the screenshot is drawn"
    assert (
        len(np.unique((rgb[::7, ::7] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50
    )  # plots, not just text

    # And the DOM has every section, and the figures of what was sent
    assert dom.headings == SECTIONS
    assert dom.figures["requests-v1"].split()[:3] == ["v1", f"{V1_ROWS:,}", f"{V1_ROWS:,}"]
    assert dom.figures["requests-v2"].split()[:3] == ["v2", "3", f"{V2_ROWS:,}"]
    active = int(re.match(r"(\d+) active", dom.figures["active-alerts"]).group(1))
    assert active >= 2 and active == sum(1 for key in dom.figures if key.startswith("alert-"))
    assert "alert-propensity-local-drift-feature-psi-warning-v1" in dom.figures
    assert dom.figures["v1-(no API key)"].split()[3:5] == [f"{V1_ROWS:,}", "100.0%"]
    largest = float(dom.figures["psi-v1"].split()[-1])
    assert largest > 0.2  # the month's PSI that raised the alarm
    assert {f"latency-{api}-{phase}" for api in ("v1", "v2") for phase in ("inference", "total")} <= set(
        dom.figures
    )

    # And the running server's own /dashboard is the same page over the same traffic
    served = _Dom()
    served.feed(httpx.get(f"{url}/dashboard", timeout=120).text)
    assert served.headings == SECTIONS
    for figure in ("requests-v1", "requests-v2"):
        assert served.figures[figure].split()[:3] == dom.figures[figure].split()[:3]

"""Concurrency with real processes: approvals and alias moves racing on one registry, locally and on S3.

16 processes approving one version (distinct names) must leave 16 approvals; 8 processes making
25 alias moves each must leave 200 readable history entries, each ``previous_version`` equal to
the pointer it really replaced (the history is a chain: sequence n replaced sequence n - 1).

S3 runs on moto's server on 127.0.0.1, so that separate processes share one bucket and one KMS
key. The server is started single-threaded: S3 evaluates a conditional write atomically, and
moto's threaded server checks ``If-Match`` / ``If-None-Match`` and then writes without a lock,
which would let two racing writers both win where S3 lets only one.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import boto3
import pytest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from werkzeug.serving import make_server

from propensity.promotion.approvals import approvals
from propensity.promotion.workflow import approve
from propensity.registry.factory import open_registry
from tests.evidence import record_gate, renamed_bundle
from tests.integration.promotion_aws import FAKE_CREDENTIALS, REGION, create_registry_bucket

APPROVERS = 16
MOVERS = 8
MOVES_EACH = 25
BUCKET = "propensity-concurrency-test"


class SerialMotoServer(ThreadedMotoServer):
    """moto's server answering one request at a time, like S3's atomic conditional writes."""

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, app, threaded=False, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def _approve(location: str, version: str, person: int) -> str:
    registry = open_registry(location)
    return approve(registry, "v1", version, approver=f"Approver {person:02d}").approver


def _move(location: str, targets: list[str | None], person: int) -> int:
    registry = open_registry(location)
    for move in range(MOVES_EACH):
        target = targets[(person + move) % len(targets)]
        registry.set_alias("v1", "challenger", target, reason=f"p{person} m{move}", actor=f"p{person}")
    return MOVES_EACH


def _worker(function, arguments: tuple, barrier, results) -> None:
    barrier.wait()  # every process acts at the same instant, once all have imported the library
    try:
        results.put(("ok", function(*arguments)))
    except BaseException as error:  # reported to the test, which fails on it
        results.put(("error", repr(error)))


def _in_processes(function, arguments: list[tuple]) -> list:
    """Run ``function`` in one fresh process per argument tuple (spawn: no state shared by fork)."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(arguments)), context.Queue()
    processes = [context.Process(target=_worker, args=(function, a, barrier, results)) for a in arguments]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert [kind for kind, _ in outcomes] == ["ok"] * len(processes), outcomes
    return [value for _, value in outcomes]


def _prepare(location: str, trained, tmp_path: Path) -> tuple[str, str]:
    """Champion, and a challenger that passed the gate against it."""
    registry = open_registry(location)
    champion = registry.register(trained["v1"].bundle_path).model_version
    registry.set_alias("v1", "champion", champion, reason="first", actor="pytest")
    challenger = registry.register(
        renamed_bundle(trained["v1"].bundle_path, tmp_path / "challenger", "v1-racer")
    ).model_version
    record_gate(registry, "v1", challenger, passed=True, against=champion)
    return champion, challenger


def _check_race_results(location: str, challenger: str, approvers: list[str]) -> None:
    registry = open_registry(location)
    assert sorted(approvers) == [f"Approver {i:02d}" for i in range(APPROVERS)]
    stored = approvals(registry, "v1", challenger)
    assert sorted(a.approver for a in stored) == sorted(approvers)

    history = registry.history("v1", "challenger")
    assert len(history) == MOVERS * MOVES_EACH
    assert [m.sequence for m in history] == list(range(1, MOVERS * MOVES_EACH + 1))
    replaced: str | None = None
    for move in history:
        assert move.previous_version == replaced, f"move {move.sequence} did not replace what was there"
        replaced = move.model_version
    assert registry.alias("v1", "challenger") == replaced
    assert sorted(m.reason for m in history) == sorted(
        f"p{p} m{m}" for p in range(MOVERS) for m in range(MOVES_EACH)
    )


def _race(location: str, trained, tmp_path: Path) -> None:
    _champion, challenger = _prepare(location, trained, tmp_path)
    approvers = _in_processes(_approve, [(location, challenger, person) for person in range(APPROVERS)])
    counts = _in_processes(_move, [(location, [challenger, None], person) for person in range(MOVERS)])
    assert sum(counts) == MOVERS * MOVES_EACH
    _check_race_results(location, challenger, approvers)


@pytest.mark.slow
def test_racing_processes_on_the_local_registry(trained, tmp_path):
    _race(str(tmp_path / "registry"), trained, tmp_path)


@pytest.fixture
def moto_server(monkeypatch):
    """moto's S3 and KMS on 127.0.0.1 for this process and the processes it starts."""
    server = SerialMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
        monkeypatch.setenv(name, value)
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    yield boto3.client("s3", region_name=REGION)
    server.stop()


@pytest.mark.slow
def test_racing_processes_on_the_s3_registry(moto_server, trained, tmp_path):
    create_registry_bucket(BUCKET)
    _race(f"s3://{BUCKET}/shared", trained, tmp_path)

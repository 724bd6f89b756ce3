"""The local server over real HTTP: uvicorn on 127.0.0.1, the registry's champions, the local archive."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from propensity.archive.layout import hour_prefix
from propensity.events import PredictionEvent
from propensity.registry.registry import Registry
from tests.service_support import v1_body, v2_body

HOST = "127.0.0.1"
CONSUMER_KEYS = {"key-of-crm": "crm", "key-of-branch-app": "branch-app"}
SERVER = "import sys; from propensity.service.server import serve; serve(sys.argv[1], host=sys.argv[2], port=int(sys.argv[3]))"
SERVE_COMMAND = "import sys; from propensity.cli import main; sys.exit(main())"  # ``propensity <args>``


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(registry: Registry, tmp_path: Path, *serve_args: str) -> Iterator[tuple[str, Path, Path]]:
    """``propensity serve`` (with ``serve_args``) in a subprocess, its own working folder, until SIGINT."""
    port = free_port()
    workdir = tmp_path / "work"
    workdir.mkdir()
    archive = tmp_path / "archive"
    log = (tmp_path / "server.log").open("w")
    # Two local consumers, identified by their x-api-key header (as API Gateway's keys are).
    env = {**os.environ, "ARCHIVE_DIR": str(archive), "PROPENSITY_CONSUMERS": json.dumps(CONSUMER_KEYS)}
    command = (
        [sys.executable, "-c", SERVE_COMMAND, "serve", "--registry", str(registry.store.location)]
        + ["--host", HOST, "--port", str(port), *serve_args]
        if serve_args
        else [sys.executable, "-c", SERVER, str(registry.store.location), HOST, str(port)]
    )
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become healthy"
            time.sleep(0.1)
        yield url, archive, workdir
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def server(registry: Registry, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """``propensity.service.server.serve`` in a subprocess (its own working folder), until SIGINT."""
    with running_server(registry, tmp_path) as running:
        yield running


def archived_events(archive: Path) -> list[PredictionEvent]:
    folder = archive / hour_prefix(datetime.now(UTC))
    lines = b"".join(gzip.decompress(f.read_bytes()) for f in sorted(folder.glob("*.jsonl.gz"))).splitlines()
    return [PredictionEvent.model_validate_json(line) for line in lines]


def test_local_server_serves_both_versions_and_archives_every_prediction(server, registry):
    url, archive, workdir = server
    with httpx.Client(base_url=url, timeout=10) as client:
        # Given the server answering on loopback
        health = client.get("/health").json()
        # Then it serves the registry's champions
        assert health["status"] == "ok"
        assert health["models"] == {api: registry.alias(api, "champion") for api in ("v1", "v2")}
        # When v1, v2 and a v2 batch of three are asked for over HTTP
        v1 = client.post("/v1/predict", json=v1_body())
        v2 = client.post("/v2/predict", json=v2_body(customer_ref="crm-e2e"))
        batch = client.post("/v2/predict/batch", json={"records": [v2_body()] * 3})
        bad = client.post("/v1/predict", content=b"{", headers={"content-type": "application/json"})
        docs = client.get("/docs")
        schema = client.get("/openapi.json")
    # Then each answers as documented, v1 with its deprecation headers
    assert v1.status_code == v2.status_code == batch.status_code == 200
    assert v1.headers["Link"] == '</v2/predict>; rel="successor-version"'
    assert bad.status_code == 400
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert "/v2/predict/batch" in schema.json()["paths"]
    # And the five PredictionEvents are in the local archive, laid out like the S3 one
    events = archived_events(archive)
    assert [e.api_version for e in events] == ["v1", "v2", "v2", "v2", "v2"]
    assert events[1].prediction_id == v2.json()["prediction_id"]
    assert events[1].customer_ref == "crm-e2e"
    assert [e.prediction_id for e in events[2:]] == [r["prediction_id"] for r in batch.json()["results"]]
    assert events[0].probability == v1.json()["probability"]
    # And the query engine reads what the server wrote: DuckDB counts the same five events, none bad
    from propensity.archive.hours import floor_hour
    from propensity.drift.aggregates import count_hours
    from propensity.query.duckdb_engine import DuckDBEngine

    hour = floor_hour(events[0].timestamp)
    counted = count_hours(DuckDBEngine(archive), [hour])[hour]
    assert (counted.events, counted.bad_lines) == (5, 0)
    assert {key[0]: g.events for key, g in counted.groups.items()} == {"v1": 1, "v2": 4}
    # And the bundles were fetched into the working folder's cache, not served from the registry
    assert sorted(p.name for p in (workdir / ".local" / "cache" / "serving").iterdir()) == ["v1", "v2"]


def test_concurrent_clients_all_get_answers(server):
    url, archive, _ = server

    async def run() -> list[int]:
        import asyncio

        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/v2/predict" if i % 2 else "/v1/predict", json=v2_body() if i % 2 else v1_body()
                    )
                    for i in range(64)
                )
            )
        return [r.status_code for r in responses]

    import asyncio

    statuses = asyncio.run(run())
    assert statuses == [200] * 64
    assert len(archived_events(archive)) == 64

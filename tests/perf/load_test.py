"""A bounded load test of the local server on 127.0.0.1: N concurrent clients for T seconds.

The server is the one ``make run`` starts (``propensity.service.server.serve`` under uvicorn)
in its own process, writing PredictionEvents to a scratch archive; the clients are asyncio
tasks spread over several client processes (``client_processes``, each with its own
``httpx.AsyncClient`` and event loop), so the client is not the bottleneck: one Python
process of 32 asyncio clients measured 75 requests/s where a C client measured 700+ against
the same server. The result records the CPU seconds the clients and the server used, which
shows which side was saturated. Both share this machine's cores, so throughput is a floor for
the server alone. Traffic goes to loopback only and stops by itself at the deadline or after
``max_requests``, whichever comes first.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.perf.stats import Latency

HOST = "127.0.0.1"
SERVER = (
    "import sys; from propensity.service.server import serve; "
    "serve(registry_location=sys.argv[1], host=sys.argv[2], port=int(sys.argv[3]))"
)


@dataclass(frozen=True)
class Request:
    """One kind of request in the mix, pre-serialised so the clients spend little CPU."""

    kind: str
    path: str
    body: bytes
    records: int  # PredictionEvents a success must leave in the archive


@dataclass
class Driven:
    """What the clients saw."""

    samples: dict[str, list[int]]  # latency ns per request kind (completed requests)
    ok: Counter[str]  # successes per kind, and "records" scored
    errors: Counter[str]  # per kind and error
    error_details: list[str]  # the first few transport errors, with their cause
    elapsed_s: float


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class LocalServer:
    """The local server in a subprocess; stopped with SIGINT (uvicorn's graceful shutdown)."""

    def __init__(self, registry_location: Path, archive_dir: Path, log_file: Path, extra_env: dict[str, str]):
        self.port = free_port()
        self.archive_dir = archive_dir
        self.log_file = log_file
        env = {**os.environ, **extra_env, "ARCHIVE_DIR": str(archive_dir)}
        env.pop("PYTHONPYCACHEPREFIX", None)
        self._log = log_file.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(registry_location), HOST, str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the local server exited early:\n{self.log_tail()}")
            try:
                answer = httpx.get(f"{self.url}/health", timeout=2)
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:500]}"
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
            time.sleep(0.2)
        raise RuntimeError(
            f"the local server was not healthy within {timeout_s:.0f}s (last /health: {last}):\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds the server has used so far (Linux ``/proc``; else ``None``)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_file.read_text(errors="replace")[-chars:]


async def _drive(
    url: str, plan: Sequence[Request], clients: int, duration_s: float, max_requests: int
) -> Driven:
    samples: dict[str, list[int]] = {r.kind: [] for r in plan}
    ok_records: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    error_details: list[str] = []
    issued = 0
    # uvicorn closes a keep-alive connection after 5 s idle; a client that reuses one at that
    # instant gets a ReadError (the usual HTTP/1.1 keep-alive race, seen here 7 times in about
    # 50,000 requests on connections the pool had opened but left idle). Expiring idle pooled
    # connections well before the server does removes the race without hiding server errors.
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0)
    headers = {"content-type": "application/json", "x-api-key": "load-test"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers) as client:
        started = time.perf_counter()
        deadline = started + duration_s

        async def worker(offset: int) -> None:
            nonlocal issued
            i = offset
            while time.perf_counter() < deadline and issued < max_requests:
                issued += 1
                request = plan[i % len(plan)]
                i += clients
                began = time.perf_counter_ns()
                try:
                    response = await client.post(request.path, content=request.body)
                except httpx.HTTPError as error:
                    errors[f"{request.kind}: {type(error).__name__}"] += 1
                    if len(error_details) < 10:
                        error_details.append(
                            f"{request.kind} after {(time.perf_counter_ns() - began) / 1e6:.0f} ms: "
                            f"{type(error).__name__}: {error!r} (cause {error.__cause__!r})"
                        )
                    continue
                samples[request.kind].append(time.perf_counter_ns() - began)
                if response.status_code == 200:
                    ok_records["records"] += request.records
                    ok_records[request.kind] += 1
                else:
                    errors[f"{request.kind}: HTTP {response.status_code}"] += 1

        await asyncio.gather(*(worker(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    return Driven(samples, ok_records, errors, error_details, elapsed)


def _drive_in_process(
    url: str, plan: Sequence[Request], clients: int, duration_s: float, max_requests: int
) -> tuple[Driven, float]:
    """One client process: its own event loop and connections; returns what it saw and its CPU s."""
    cpu_started = time.process_time()
    driven = asyncio.run(_drive(url, plan, clients, duration_s, max_requests))
    return driven, time.process_time() - cpu_started


def drive(
    url: str, plan: Sequence[Request], clients: int, duration_s: float, max_requests: int, processes: int
) -> tuple[Driven, float]:
    """``clients`` concurrent clients over ``processes`` processes; the merged view and client CPU s.

    Each process starts at another point of the plan, so the mix stays the same at any moment.
    """
    processes = max(1, min(processes, clients))
    if processes == 1:
        return _drive_in_process(url, plan, clients, duration_s, max_requests)
    shares = [clients // processes + (1 if p < clients % processes else 0) for p in range(processes)]
    jobs = [
        (url, [*plan[p * len(plan) // processes :], *plan[: p * len(plan) // processes]], share, duration_s,
         max(1, max_requests // processes))
        for p, share in enumerate(shares)
    ]  # fmt: skip
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.starmap(_drive_in_process, jobs)
    samples: dict[str, list[int]] = {r.kind: [] for r in plan}
    ok: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    details: list[str] = []
    for part, _cpu in parts:
        for kind, values in part.samples.items():
            samples.setdefault(kind, []).extend(values)
        ok.update(part.ok)
        errors.update(part.errors)
        details.extend(part.error_details)
    merged = Driven(samples, ok, errors, details[:10], max(part.elapsed_s for part, _ in parts))
    return merged, sum(cpu for _, cpu in parts)


def count_archived_events(archive_dir: Path) -> int:
    """PredictionEvents the server wrote (gzip JSON lines under ``predictions/``)."""
    count = 0
    for path in sorted(archive_dir.rglob("*")):
        if not path.is_file():
            continue
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as lines:
            count += sum(1 for line in lines if line.strip())
    return count


def run_load_test(
    registry_location: Path,
    plan: Sequence[Request],
    clients: int = 32,
    duration_s: float = 30.0,
    max_requests: int = 500_000,
    extra_env: dict[str, str] | None = None,
    client_processes: int = 2,
) -> dict[str, Any]:
    """Start the server, drive it, stop it; latency per kind, throughput, errors, archive check."""
    with tempfile.TemporaryDirectory(prefix="load-test-") as scratch:
        server = LocalServer(
            registry_location, Path(scratch) / "archive", Path(scratch) / "server.log", extra_env or {}
        )
        try:
            server.wait_ready()
            server_cpu_started = server.cpu_seconds()
            driven, client_cpu_s = drive(
                server.url, plan, clients, duration_s, max_requests, client_processes
            )
            server_cpu_ended = server.cpu_seconds()
        finally:
            exit_code = server.stop()
        log = server.log_file.read_text(errors="replace")
        archived = count_archived_events(server.archive_dir)
    samples, ok, errors, elapsed = driven.samples, driven.ok, driven.errors, driven.elapsed_s
    completed = sum(len(v) for v in samples.values())
    every = [ns for values in samples.values() for ns in values]
    server_cpu_s = (
        server_cpu_ended - server_cpu_started
        if server_cpu_started is not None and server_cpu_ended is not None
        else None
    )
    return {
        "clients": clients,
        "client_processes": max(1, min(client_processes, clients)),
        # CPU seconds over the run: a side near duration_s x its processes was the bottleneck.
        "client_cpu_s": round(client_cpu_s, 2),
        "server_cpu_s": round(server_cpu_s, 2) if server_cpu_s is not None else None,
        "duration_s": round(elapsed, 2),
        "requests": completed + sum(c for k, c in errors.items() if "HTTP" not in k),
        "completed": completed,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "error_details": driven.error_details,
        "throughput_rps": round(completed / elapsed, 1) if elapsed else 0.0,
        "records_per_s": round(ok["records"] / elapsed, 1) if elapsed else 0.0,
        "latency_all": Latency.from_ns(every).as_dict() if every else None,
        "latency_by_kind": {k: Latency.from_ns(v).as_dict() for k, v in samples.items() if v},
        "mix": dict(Counter(r.kind for r in plan)),
        "events_expected": ok["records"],
        "events_archived": archived,
        "server_exit_code": exit_code,
        "server_tracebacks": log.count("Traceback"),
        "server_log_problems": [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line][
            :20
        ],
    }


def request_plan(
    v1_bodies: Sequence[dict[str, Any]],
    v2_bodies: Sequence[dict[str, Any]],
    v1_path: str,
    v2_path: str,
    batch_path: str | None,
    batch_body: Any = None,
    batch_records: int = 0,
    batch_every: int = 25,
) -> list[Request]:
    """Alternating v1 and v2 singles over distinct customers, and one batch every ``batch_every``."""
    plan: list[Request] = []
    for i, (v1, v2) in enumerate(zip(v1_bodies, v2_bodies, strict=True)):
        plan.append(Request("v1 single", v1_path, json.dumps(v1).encode(), 1))
        plan.append(Request("v2 single", v2_path, json.dumps(v2).encode(), 1))
        if batch_path is not None and (i + 1) % batch_every == 0:
            plan.append(
                Request(
                    f"v2 batch of {batch_records}", batch_path, json.dumps(batch_body).encode(), batch_records
                )
            )
    return plan

"""Real HTTP servers on 127.0.0.1 standing in for third parties (PagerDuty, Slack, the API).

Each stand-in records every request it receives and answers from a script of outcomes
(status, body, delay, headers); when the script runs out it gives its default answer. A
delay longer than the client's timeout makes the client time out, as a slow provider would.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Reply:
    status: int = 200
    body: Any = b""
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class StandIn:
    def __init__(self, default: Reply) -> None:
        self.default = default
        self.script: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.routes: dict[tuple[str, str], Reply] = {}
        # Computes the reply from the request (after routes and script); None: the default.
        self.responder: Callable[[Received], Reply | None] | None = None
        self._lock = threading.Lock()
        self.url = ""

    def then(self, *replies: Reply) -> StandIn:
        """Answer the next requests with these replies, in order."""
        self.script.extend(replies)
        return self

    def route(self, method: str, path: str, reply: Reply) -> None:
        """Always answer ``method path`` with ``reply`` (before the script)."""
        self.routes[(method, path)] = reply

    def _next(self, received: Received) -> Reply:
        with self._lock:
            if (received.method, received.path) in self.routes:
                return self.routes[(received.method, received.path)]
            if self.script:
                return self.script.popleft()
        computed = self.responder(received) if self.responder else None
        return computed or self.default

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            received = Received(
                self.command, path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
            )
            stand_in.record(received)
            reply = stand_in._next(received)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            payload = reply.payload()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(default: Reply) -> Iterator[StandIn]:
    """A stand-in listening on an ephemeral port of 127.0.0.1 for the duration of the block."""
    stand_in = StandIn(default)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def load_handler(name: str) -> ModuleType:
    """Import ``functions/<name>/<name>_handler.py`` afresh (its module-level settings read the
    environment at import, as at a Lambda cold start)."""
    path = ROOT / "functions" / name / f"{name}_handler.py"
    module_name = f"_handler_{name}_{time.monotonic_ns()}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module

"""Hot reload in the local server: the champion moves, the running app follows, safely.

The watcher runs against a real local registry; its rounds are driven by hand (``poll``)
except in the one test that checks the background thread.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from propensity.constants import MODEL_VERSION_HEADER
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from propensity.service.app import create_app
from propensity.service.core.runtime import ModelRuntime
from propensity.service.server import ChampionWatcher, local_settings
from tests.service_support import clone_bundle, move_champion, v1_body, v2_body

from .conftest import TestClient
from .test_model_load import not_a_zip, rehash


@pytest.fixture
def served(registry: Registry, tmp_path: Path):
    """A local app following ``registry``'s champions, and its watcher (not started)."""
    settings = local_settings({"ARCHIVE_DIR": str(tmp_path / "archive")})
    runtime = ModelRuntime({}, {api: "loading" for api in settings.api_versions})
    watcher = ChampionWatcher(registry, runtime, cache_dir=tmp_path / "cache", interval_s=0.05)
    watcher.poll()
    client = TestClient(create_app(settings, runtime), raise_server_exceptions=False)
    yield client, watcher
    watcher.stop()


@pytest.fixture
def register_clone(registry: Registry, trained, tmp_path: Path):
    """Factory: register a copy of the trained bundle of ``api`` as another version."""

    def make(api: str, version: str, corrupt: bool = False) -> str:
        folder = clone_bundle(trained[api].bundle_path, tmp_path / version, version)
        if corrupt:
            not_a_zip(folder)
            rehash(folder)
        registry.register(folder)
        return version

    return make


def test_the_server_follows_a_champion_move(served, registry, register_clone):
    client, watcher = served
    first = registry.alias("v1", "champion")
    assert client.get("/health").json()["models"]["v1"] == first
    # Given a new v1 version made champion while the server runs
    new = register_clone("v1", "v1-reloaded-0001")
    move_champion(registry, "v1", new, "test")
    # When the watcher's next round runs
    watcher.poll()
    # Then /health and X-Model-Version show the new version, and v2 is untouched
    health = client.get("/health").json()
    assert health["models"]["v1"] == new
    assert health["models"]["v2"] == registry.alias("v2", "champion")
    assert health["reload_errors"] == {}
    assert client.post("/v1/predict", json=v1_body()).headers[MODEL_VERSION_HEADER] == new
    assert client.post("/v2/predict", json=v2_body()).status_code == 200
    # And moving back (a rollback) is followed too
    move_champion(registry, "v1", first, "rollback")
    watcher.poll()
    assert client.post("/v1/predict", json=v1_body()).headers[MODEL_VERSION_HEADER] == first


def test_a_champion_that_fails_to_load_leaves_the_old_one_serving(served, registry, register_clone):
    client, watcher = served
    old = registry.alias("v2", "champion")
    # Given a corrupt bundle (hashes consistent) made v2 champion
    bad = register_clone("v2", "v2-corrupt-0001", corrupt=True)
    move_champion(registry, "v2", bad, "test")
    # When the watcher tries it
    watcher.poll()
    # Then the old model keeps serving, and /health says why (still 200: v2 answers)
    response = client.post("/v2/predict", json=v2_body())
    assert response.status_code == 200 and response.json()["model_version"] == old
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["models"]["v2"] == old
    reason = health.json()["reload_errors"]["v2"]
    assert bad in reason and "BadZipFile" in reason and f"still serving {old}" in reason
    # And the next round does not retry it at once (no load loop every 2 s)
    calls = []
    original = registry.load
    registry.load = lambda *a, **k: calls.append(a) or original(*a, **k)  # type: ignore[method-assign]
    watcher.poll()
    assert calls == []
    # And when the alias goes back to the serving version, the error clears
    move_champion(registry, "v2", old, "rollback")
    watcher.poll()
    assert client.get("/health").json()["reload_errors"] == {}


def test_a_bundle_whose_golden_answers_differ_is_refused(served, registry, trained, tmp_path):
    client, watcher = served
    old = registry.alias("v1", "champion")
    # Given a bundle whose recorded golden answers its model does not give
    folder = clone_bundle(trained["v1"].bundle_path, tmp_path / "v1-golden-off", "v1-golden-off")
    document = json.loads((folder / "golden.json").read_text())
    document["cases"][0]["probability"] = 1.0 - document["cases"][0]["probability"]
    (folder / "golden.json").write_text(json.dumps(document))
    rehash(folder)
    registry.register(folder)
    move_champion(registry, "v1", "v1-golden-off", "test")
    watcher.poll()
    # Then it is refused: the old model serves, /health says which case differed
    assert client.post("/v1/predict", json=v1_body()).headers[MODEL_VERSION_HEADER] == old
    assert "golden case" in client.get("/health").json()["reload_errors"]["v1"]


def test_no_champion_is_a_503_saying_what_to_run(tmp_path):
    # Given an empty registry
    registry = Registry(LocalBlobStore(tmp_path / "empty"))
    runtime = ModelRuntime({}, {})
    ChampionWatcher(registry, runtime, cache_dir=tmp_path / "cache").poll()
    # Then each version is unavailable with a local instruction, not an environment variable
    for api in ("v1", "v2"):
        assert "propensity quickstart" in runtime.errors[api]
        assert "MODEL_DIR" not in runtime.errors[api]


def test_requests_in_flight_during_swaps_all_succeed_on_one_model_or_the_other(
    served, registry, register_clone
):
    client, watcher = served
    first = registry.alias("v1", "champion")
    second = register_clone("v1", "v1-swap-0001")
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def call() -> None:
        while not stop.is_set():
            response = client.post("/v1/predict", json=v1_body())
            seen.append((response.status_code, response.headers.get(MODEL_VERSION_HEADER)))

    # Given clients calling v1 continuously
    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    # When the champion flips back and forth, each flip loaded by the watcher
    for i in range(6):
        move_champion(registry, "v1", second if i % 2 == 0 else first, "flip")
        watcher.poll()
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    # Then every request was answered, each by one of the two models
    assert seen and all(status == 200 for status, _ in seen)
    assert {version for _, version in seen} <= {first, second}


def test_the_background_thread_picks_up_a_move_within_seconds(served, registry, register_clone):
    client, watcher = served
    new = register_clone("v2", "v2-thread-0001")
    watcher.start()
    move_champion(registry, "v2", new, "test")
    deadline = time.monotonic() + 10
    while client.get("/health").json()["models"]["v2"] != new:
        assert time.monotonic() < deadline, "the watcher did not load the new champion"
        time.sleep(0.05)

"""Bad luck on the serving side: an unreadable registry never takes the champion down."""

from __future__ import annotations

from types import SimpleNamespace

from propensity.experiments.serving import ExperimentServing, by_model, choose_many, headers, tag
from propensity.registry.registry import Registry
from propensity.registry.storage import BlobStore


class FlakyStore(BlobStore):
    """A registry store that fails every call (S3 down, permissions revoked)."""

    def get(self, key: str) -> bytes:
        raise OSError("registry unreachable")

    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        raise OSError("registry unreachable")

    def list(self, prefix: str) -> list[str]:
        raise OSError("registry unreachable")

    def exists(self, key: str) -> bool:
        raise OSError("registry unreachable")

    @property
    def location(self) -> str:
        return "flaky://"


def test_an_unreadable_registry_at_start_and_at_every_poll_leaves_the_champion_serving():
    ticks = iter(range(0, 1000, 5))
    hook = ExperimentServing(Registry(FlakyStore()), "v2", clock=lambda: float(next(ticks)), background=False)
    champion = SimpleNamespace(version="v2-champion")
    for _ in range(3):  # each call polls (the fake clock moves 5 s) and the poll fails
        choices = choose_many(hook, champion, ["a", None, "b"], "req-1")  # type: ignore[arg-type]
        assert [c.served for c in choices] == [champion] * 3 and all(c.arm is None for c in choices)
    assert headers(choices) == {} and tag([], []) == []
    assert by_model(choices) == [(champion, [0, 1, 2])]


def test_no_configured_registry_means_no_hook():
    assert ExperimentServing.from_location(None) is None
    assert ExperimentServing.from_location("") is None

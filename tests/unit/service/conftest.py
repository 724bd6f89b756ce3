"""Fixtures for the prediction service: settings on the session's trained bundles, apps, clients."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from propensity.bundle.io import Bundle
from propensity.observability import metrics
from propensity.service.app import create_app
from propensity.service.settings import ServiceSettings
from tests.service_support import make_settings

with warnings.catch_warnings():  # starlette asks for httpx2 here; httpx is what the project pins
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(autouse=True)
def _clear_metrics() -> Iterator[None]:
    """The Powertools metrics object is process-wide: start and end every test empty."""
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture(scope="session")
def service_settings(bundles: dict[str, Bundle]) -> ServiceSettings:
    return make_settings(bundles)


@pytest.fixture(scope="session")
def service_app(service_settings: ServiceSettings) -> Any:
    """Both versions, events on stdout, metrics left for Powertools' handler flush (as in Lambda)."""
    return create_app(service_settings)


@pytest.fixture
def client(service_app: Any) -> TestClient:
    return TestClient(service_app, raise_server_exceptions=False)


@pytest.fixture
def make_client(bundles: dict[str, Bundle]) -> Callable[..., TestClient]:
    """A client for an app built with settings overrides (e.g. a missing bundle, an archive)."""

    def make(**overrides: Any) -> TestClient:
        return TestClient(create_app(make_settings(bundles, **overrides)), raise_server_exceptions=False)

    return make

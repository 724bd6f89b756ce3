"""Property-based tests generated from the app's own OpenAPI schema (schemathesis).

Every documented operation gets schema-valid (positive) and schema-invalid (negative)
requests; ``call_and_validate`` runs schemathesis' default checks: no 5xx, documented status
codes, content types, headers and bodies conforming to the schema, invalid data rejected,
valid data accepted. (The operations are listed here rather than via ``from_fixture``, whose
lazy loader does not work with this pytest; the test below fails if the list goes stale.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from propensity.service.app import create_app
from tests.service_support import make_settings

OPERATIONS = [
    ("GET", "/health"),
    ("POST", "/v1/predict"),
    ("POST", "/v2/predict"),
    ("POST", "/v2/predict/batch"),
    ("POST", "/v2/validate"),
    ("POST", "/v2/translate"),
]
MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def api_schema(bundles):
    app = create_app(make_settings(bundles, events_to_stdout=False, metrics_flush="off"))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_documented_operation_is_exercised(api_schema):
    documented = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)


POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# GET /health takes no input, so there is nothing to make invalid.
CASES = [(m, p, POSITIVE) for m, p in OPERATIONS] + [(m, p, NEGATIVE) for m, p in OPERATIONS if m == "POST"]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_the_api_honours_its_own_schema(api_schema, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate()

    check()

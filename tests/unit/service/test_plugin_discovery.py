"""pydantic's plugin discovery is skipped when plugins are disabled, and only then.

Each case runs in a fresh interpreter (what the prediction function's cold start is), since the
loader is chosen once per process, before the first model is built.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pydantic.plugin._schema_validator as schema_validator

from propensity.service.plugin_discovery import DISABLED_VALUES, LOADER_MODULE

# Imports the service's Lambda path, builds its settings and validates a v2 request body.
CHILD = """
import json, sys
import propensity.service.lambda_api
import propensity.service.v2.routes
from propensity.service.settings import ServiceSettings
from propensity.service.v2.models import EXAMPLE_REQUEST, V2_RECORDS

settings = ServiceSettings.from_env({"API_VERSIONS": "v2"})
V2_RECORDS.validate_python([EXAMPLE_REQUEST])
loader = sys.modules["pydantic.plugin._loader"]
print(json.dumps({
    "metadata_imported": "importlib.metadata" in sys.modules,
    "real_loader": hasattr(loader, "entry_points"),
    "versions": list(settings.api_versions),
}))
"""


def _run(disable: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if disable is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = disable
    completed = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_disabled_plugins_leave_importlib_metadata_unloaded():
    # Given the prediction function's environment (plugins disabled)
    # When the Lambda path is imported and its models validate
    result = _run("__all__")
    # Then the models work and the metadata machinery was never imported
    assert result == {"metadata_imported": False, "real_loader": False, "versions": ["v2"]}


def test_enabled_plugins_keep_pydantic_discovery():
    # Given no PYDANTIC_DISABLE_PLUGINS (the local server, the CLI, tests), or a value that
    # does not disable every plugin
    for value in (None, "some-plugin"):
        result = _run(value)
        # Then pydantic's own loader runs, entry points and all
        assert result["real_loader"] is True, value
        assert result["metadata_imported"] is True, value


def test_the_stand_in_matches_what_pydantic_imports_from_its_loader():
    # Given pydantic's schema-validator factory, the only importer of the loader
    tree = ast.parse(inspect.getsource(schema_validator))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module == LOADER_MODULE.rsplit(".", 1)[1]
        and node.level == 1
        for alias in node.names
    }
    # Then it takes get_plugins and nothing else: the stand-in provides exactly that
    assert imported == {"get_plugins"}
    # And the values that disable plugins are still pydantic's own
    loader_source = (Path(schema_validator.__file__).parent / "_loader.py").read_text()
    for value in DISABLED_VALUES:
        assert repr(value) in loader_source

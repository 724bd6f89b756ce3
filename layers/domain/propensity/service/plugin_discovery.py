"""Skip pydantic's plugin discovery when plugins are disabled: ``importlib.metadata`` stays unloaded.

The first model pydantic builds imports ``pydantic.plugin._loader``, which imports
``importlib.metadata`` at module level (with ``email``, ``zipfile``, ``socket``, ``csv``... about
40 modules, some 80 million instructions: 14% of a process that only imports numpy and
pydantic) even when ``PYDANTIC_DISABLE_PLUGINS`` makes its ``get_plugins`` return nothing. The
prediction function sets that variable (``infra.packaging.PREDICTION_ENVIRONMENT``: no plugin is
installed), so this puts in the loader's place a module whose ``get_plugins`` returns the same
nothing without the import. ``get_plugins`` is the only name pydantic takes from the loader
(pydantic 2.14, ``plugin._schema_validator``); ``tests/unit/service/test_plugin_discovery.py``
checks that, and that nothing changes when the variable is unset.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable
from typing import Any, Final

LOADER_MODULE: Final[str] = "pydantic.plugin._loader"
# pydantic's own values for "no plugins" (plugin/_loader.py, get_plugins).
DISABLED_VALUES: Final[frozenset[str]] = frozenset({"__all__", "1", "true"})


def _no_plugins() -> Iterable[Any]:
    return ()


def skip_plugin_discovery() -> bool:
    """Install the no-plugin loader when ``PYDANTIC_DISABLE_PLUGINS`` disables them all.

    Returns whether it did: not when plugins are enabled, or the real loader is already loaded.
    """
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in DISABLED_VALUES or LOADER_MODULE in sys.modules:
        return False
    loader = types.ModuleType(LOADER_MODULE, "pydantic plugins disabled (PYDANTIC_DISABLE_PLUGINS)")
    loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
    sys.modules[LOADER_MODULE] = loader
    return True

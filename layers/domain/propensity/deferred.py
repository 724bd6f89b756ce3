"""pydantic models that are built on first use, not when their module is imported.

A model class normally compiles its validator and serializer as the class statement runs: on
the prediction function's cold start that was about half the import time of the bundle and
service modules (docs/performance.md). ``defer_build`` postpones that to the first
validation, serialisation or schema request, with identical behaviour. It suits models whose
own validator the cold start never calls: response models (answers are written from dicts),
the batch adapter, and models of other code paths (a refused call). Not records nested in a
model that is validated at start-up (a manifest's metrics): the parent generates their schemas
anyway, and deferring them measured no saving.
"""

from __future__ import annotations

from typing import Final

from pydantic import ConfigDict

BUILT_ON_FIRST_USE: Final[ConfigDict] = ConfigDict(defer_build=True)

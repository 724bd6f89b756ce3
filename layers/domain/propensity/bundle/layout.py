"""The names of a bundle's files (no models here: the serving cold start imports this module)."""

from __future__ import annotations

MANIFEST_FILE = "manifest.json"
ARTEFACT_FILE = "model.npz"
GOLDEN_FILE = "golden.json"
CARD_FILE = "MODEL_CARD.md"
MANIFEST_FORMAT = 1

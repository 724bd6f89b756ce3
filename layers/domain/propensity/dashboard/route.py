"""``GET /dashboard`` for the local server: the same page, rendered on request.

Kept out of ``service/`` on purpose: the local server mounts it
(``app.include_router(dashboard_router(archive_dir, alerts_dir))``); the Lambda app never
does (in AWS the CloudWatch dashboard is the page). The endpoint is a plain ``def``, so
FastAPI runs the archive scan in its thread pool, off the event loop that serves predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse


def dashboard_router(archive_dir: Path, alerts_dir: Path) -> APIRouter:
    """A router with ``GET /dashboard?hours=N`` over this archive and alert state."""
    router = APIRouter()

    @router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24) -> HTMLResponse:
        from propensity.archive.store import LocalArchiveStore
        from propensity.dashboard.data import gather
        from propensity.dashboard.page import render_page

        data = gather(LocalArchiveStore(archive_dir), alerts_dir, hours=hours)
        # The page is generated per request: never serve a stale copy from a cache.
        return HTMLResponse(render_page(data), headers={"cache-control": "no-store"})

    return router

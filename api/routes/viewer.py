"""The street-office viewer: a static page (``api/static/viewer``) over the read endpoints.

Browsers asking ``/`` for HTML get the viewer; ``/viewer/config`` tells it the optional base-map
tile URL (``WANGGE_TILES_URL``) and the colours of the levels and severities (``gis.maps.style``, the
offline maps' own). Everything the page loads — Leaflet, its script and style — is
served by this app, so it works on an intranet with no internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from api.settings import Settings
from gis.maps.style import LEVEL_COLOURS, SEVERITY_COLORS

PAGE = Path(__file__).resolve().parents[1] / "static" / "viewer" / "index.html"


def wants_html(request: Request) -> bool:
    """A browser navigating here (it accepts ``text/html``), unless ``?f=json`` asks for the JSON."""
    return request.query_params.get("f") != "json" and "text/html" in request.headers.get("accept", "")


def page() -> FileResponse:
    return FileResponse(PAGE, media_type="text/html; charset=utf-8")


def router(settings: Settings) -> APIRouter:
    api = APIRouter()

    @api.get("/viewer/config", summary="Settings of the web viewer")
    def config():
        return {"tiles": settings.tiles_url, "attribution": settings.tiles_attribution,
                "public_read": settings.public_read, "level_colours": LEVEL_COLOURS,
                "severity_colours": SEVERITY_COLORS}

    return api

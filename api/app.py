"""The web service: ``create_app(settings)`` builds the FastAPI app over a store.

OpenAPI at ``/openapi.json``; its documentation at ``/docs`` is Swagger UI served from
``api/static/swagger-ui`` (vendored, no CDN: the page works with no internet).

>>> from fastapi.testclient import TestClient
>>> client = TestClient(create_app(Settings(database_url="sqlite://", public_read=True)))
>>> client.get("/conformance").json()["conformsTo"][0]
'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core'
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles

from api import auth, testing
from api.errors import PayloadTooLargeError, add_exception_handlers
from api.routes import features, findings, proposals, tiles, viewer
from api.settings import Settings
from api.store import Store

STATIC = Path(__file__).resolve().parent / "static"
LEAFLET = Path(__file__).resolve().parents[1] / "gis" / "static" / "leaflet"


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """The app over ``store`` (default: the one ``settings.database_url`` names)."""
    settings = settings or Settings()
    app = FastAPI(title=settings.title, version="0.1.0", docs_url=None, redoc_url=None,
                  description="OGC API – Features over the stored city, its findings, users and redraw proposals.")
    app.state.settings = settings
    app.state.store = store or Store(settings.database_url, tile_cache=settings.tile_cache_features)
    app.state.signing_key = auth.signing_key(app.state.store, settings)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    app.state.findings = findings.FindingsCache(app.state.store, settings.findings_cache)
    add_exception_handlers(app)
    app.mount("/static/leaflet", StaticFiles(directory=LEAFLET), name="leaflet")  # before /static
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request):
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{settings.title} — API",
            swagger_js_url=f"{root}/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None})

    app.include_router(features.router(settings))
    app.include_router(tiles.router(settings))
    app.include_router(findings.router(settings))
    app.include_router(viewer.router(settings))
    app.include_router(auth.router(settings))
    app.include_router(proposals.router(settings, on_apply=testing.apply_delay(settings.test_apply_delay)))
    return app


class BodyLimit:
    """Refuse request bodies above ``limit`` bytes with 413 (by Content-Length, or while reading)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_big = f"the request body is larger than {self.limit:,} bytes (WANGGE_MAX_UPLOAD_BYTES)"
        if length is not None and length.isdigit() and int(length) > self.limit:
            response = JSONResponse({"code": "PayloadTooLargeError", "description": too_big}, status_code=413)
            return await response(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise PayloadTooLargeError(too_big)
            return message

        await self.app(scope, counted, send)

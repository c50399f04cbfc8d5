"""CLI commands of the store and the service: ``wangge load``, ``wangge export``, ``wangge serve``.

Registered on the ``wangge`` app by ``gis/cli.py`` (``register(app)``). The store is the one
``--db`` or ``WANGGE_DATABASE_URL`` names, else the embedded SQLite default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from gis.errors import WanggeError, exit_code

err = Console(stderr=True)
DB_HELP = "Database URL (postgresql+psycopg://… or sqlite:///…); default WANGGE_DATABASE_URL, else the embedded store."


def _fail(e: WanggeError) -> None:
    err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code(e))


def _settings(db: Optional[str]):
    from api.settings import Settings

    return Settings(database_url=db) if db else Settings()


def load(
    city: Path = typer.Argument(..., help="City: a GeoPackage in the standard layout, or a mapping file (.toml)."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
):
    """Load a city into the store (all or nothing) as its new version."""
    from api.store import Store
    from gis import read_city

    try:
        with err.status("reading…") as status:
            c = read_city(city)
            status.update("loading…")
            store = Store(_settings(db).database_url)
            version = store.load(c, source=str(city))
    except WanggeError as e:
        _fail(e)
    counts = ", ".join(f"{name} {len(gdf):,}" for name, gdf in c.layers.items())
    err.print(f"loaded {escape(str(city))} into {escape(repr(store))} as version {version}: {counts}", highlight=False)


def export(
    out: Path = typer.Argument(..., help="GeoPackage to write (replaced all or nothing)."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
):
    """Write the stored city to a GeoPackage (opens in QGIS; reads back with wangge check)."""
    from api.store import Store
    from gis.io import write_city

    try:
        with err.status("exporting…"):
            store = Store(_settings(db).database_url)
            version, c = store.snapshot()
            write_city(c, out)
    except WanggeError as e:
        _fail(e)
    err.print(f"wrote version {version} to {escape(str(out))}", highlight=False)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
):
    """Serve the stored city (OGC API – Features, findings, /docs); an empty store gets the sample city."""
    import uvicorn

    from api.app import create_app
    from api.store import Store
    from gis import read_city

    settings = _settings(db)
    try:
        store = Store(settings.database_url)
        if store.version() == 0:
            err.print(f"the store is empty: loading the sample city {escape(str(settings.sample))}", highlight=False)
            store.load(read_city(settings.sample), source=str(settings.sample))
        app = create_app(settings, store=store)
    except WanggeError as e:
        _fail(e)
    err.print(f"serving {escape(repr(store))} at http://{host}:{port}/ (API docs: /docs)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    """Add ``load``, ``export`` and ``serve`` to the ``wangge`` command."""
    app.command()(load)
    app.command()(export)
    app.command()(serve)

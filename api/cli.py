"""CLI commands of the store and the service: ``wangge load``, ``wangge export``, ``wangge serve``,
``wangge users add | list | update | password | delete``.

Their Typer ``app`` joins the ``wangge`` command through the entry point group ``wangge.commands``
(``pyproject.toml``), so that ``gis`` never imports ``api``. The store is the one ``--db`` or
``WANGGE_DATABASE_URL`` names, else the embedded SQLite default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from gis.cli.common import CITY, err, fail
from gis.errors import WanggeError

app = typer.Typer()
DB = typer.Option(None, "--db", help="Database URL (postgresql+psycopg://… or sqlite:///…); default "
                                     "WANGGE_DATABASE_URL, else the embedded store.")


def _settings(db: Optional[str]):
    """The settings (``WANGGE_*``), with ``--db`` if given; exit 2 with a message when they are bad."""
    from pydantic import ValidationError

    from api.settings import Settings

    try:
        return Settings(database_url=db) if db else Settings()
    except ValidationError as e:
        problems = "; ".join((f"WANGGE_{'_'.join(map(str, p['loc'])).upper()}: " if p["loc"] else "")
                             + p["msg"].removeprefix("Value error, ") for p in e.errors())
        fail(WanggeError(f"bad settings: {problems}"))


@app.command()
def load(
    city: Path = CITY,
    db: Optional[str] = DB,
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
        fail(e)
    counts = ", ".join(f"{name} {len(gdf):,}" for name, gdf in c.layers.items())
    err.print(f"loaded {escape(str(city))} into {escape(repr(store))} as version {version}: {counts}", highlight=False)
    if c.defects:
        left = sum(r["code"] in ("empty_geometry", "invalid_geometry") and r["geometry"] is None for r in c.defects)
        err.print(f"{len(c.defects):,} defects of single features ({left:,} features without a usable geometry "
                  f"left out): wangge check {escape(str(city))} lists them", highlight=False)


@app.command()
def export(
    out: Path = typer.Argument(..., help="GeoPackage to write (replaced all or nothing)."),
    crs: Optional[str] = typer.Option(None, "--crs", help="Write in this CRS: GCJ-02 (Amap, Tencent) or BD-09 (Baidu), "
                                                          "as those web maps take them (lon/lat labelled EPSG:4326), "
                                                          "or any CRS pyproj knows (EPSG:4326, EPSG:4547 …); "
                                                          "default: the stored one."),
    db: Optional[str] = DB,
):
    """Write the stored city to a GeoPackage (opens in QGIS; reads back with wangge check)."""
    from api.store import Store
    from gis.chinacrs import to_crs
    from gis.io import write_city
    from gis.model import City

    try:
        with err.status("exporting…"):
            store = Store(_settings(db).database_url)
            version, c = store.snapshot()
            if crs is not None:
                c = City({name: to_crs(gdf, crs) for name, gdf in c.layers.items()}, source=c.source,
                         metric_crs=c.metric_crs)
            write_city(c, out)
    except WanggeError as e:
        fail(e)
    err.print(f"wrote version {version} to {escape(str(out))}" + (f" in {escape(crs)}" if crs else ""), highlight=False)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    db: Optional[str] = DB,
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Server processes sharing the port, each with its own caches: one per core "
                                     "lets the embedded store's tiles (made in Python) use every core."),
    keep_alive: int = typer.Option(75, "--keep-alive", min=1, metavar="SECONDS",
                                   help="How long an idle connection stays open: longer than clients and proxies "
                                        "keep theirs (httpx 5 s, nginx 75 s), so that none is closed just as a "
                                        "client sends on it."),
):
    """Serve the viewer at /, the OGC API, findings, proposals and /docs; an empty store gets the sample city and demo users."""
    import os

    import uvicorn

    from api.app import create_app
    from api.store import Store
    from gis import read_city

    from api.auth import demo_users

    settings = _settings(db)
    try:
        store = Store(settings.database_url, tile_cache=settings.tile_cache_features)
        if store.version() == 0:
            err.print(f"the store is empty: loading the sample city {escape(str(settings.sample))}", highlight=False)
            store.load(read_city(settings.sample), source=str(settings.sample))
        streets = store.features("streets", limit=1).frame if "streets" in store.layers() else None
        made = demo_users(store, streets["code"].iloc[0] if streets is not None and len(streets) else None, settings)
        app = create_app(settings, store=store)
    except WanggeError as e:
        fail(e)
    if made:
        err.print("no users yet: demo users (new passwords: wangge users password NAME; real users: "
                  "wangge users add NAME --role R):", highlight=False)
        for user, password in made:
            street = f" street={user.street_code}" if user.street_code else ""
            err.print(f"  username={user.username} role={user.role}{street} password={password}", highlight=False,
                      markup=False)
    err.print(f"serving {escape(repr(store))} at http://{host}:{port}/ (API docs: /docs)"
              + (f" in {workers} processes" if workers > 1 else ""), highlight=False)
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=keep_alive)
        return
    store.close()  # each process opens its own, from the same settings (WANGGE_*)
    os.environ["WANGGE_DATABASE_URL"] = settings.database_url
    uvicorn.run("api.app:create_app", factory=True, workers=workers, host=host, port=port, log_level="info",
                timeout_keep_alive=keep_alive)


users_app = typer.Typer(help="Users of the service (wangge serve).", no_args_is_help=True)


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="User name (what they sign in with)."),
    role: str = typer.Option(..., "--role", help="street_staff, planner, reviewer or admin."),
    street: Optional[str] = typer.Option(None, "--street", help="The street code of a street_staff user."),
    password: Optional[str] = typer.Option(None, "--password", help="The password (default: asked for, twice)."),
    db: Optional[str] = DB,
):
    """Create a user of the service (the password is stored as an argon2 hash only)."""
    from api.auth import add_user
    from api.store import Store

    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    settings = _settings(db)
    try:
        user = add_user(Store(settings.database_url), name, password, role, street, settings=settings)
    except WanggeError as e:
        fail(e)
    err.print(f"added {escape(user.username)} ({_describe(user)})", highlight=False)


def _describe(user) -> str:
    return user.role + (f" for street {escape(user.street_code)}" if user.street_code else "")


@users_app.command("list")
def users_list(db: Optional[str] = DB):
    """The users of the service and their roles."""
    from api.auth import list_users
    from api.store import Store

    try:
        for u in list_users(Store(_settings(db).database_url)):
            typer.echo(f"{u.username}\t{u.role}\t{u.street_code or ''}")
    except WanggeError as e:
        fail(e)


@users_app.command("update")
def users_update(
    name: str = typer.Argument(..., help="User name."),
    role: Optional[str] = typer.Option(None, "--role", help="New role: street_staff, planner, reviewer or admin "
                                                            "(a city-wide role drops the street)."),
    street: Optional[str] = typer.Option(None, "--street", help="New street code (street_staff users)."),
    db: Optional[str] = DB,
):
    """Change a user's role or street (takes effect on their next request)."""
    from api.auth import update_user
    from api.store import Store

    if role is None and street is None:
        fail(WanggeError("nothing to change: give --role and/or --street (a new password: wangge users password)"))
    try:
        user = update_user(Store(_settings(db).database_url), name, role=role, street_code=street)
    except WanggeError as e:
        fail(e)
    err.print(f"{escape(user.username)} is now {_describe(user)}", highlight=False)


@users_app.command("password")
def users_password(
    name: str = typer.Argument(..., help="User name."),
    password: Optional[str] = typer.Option(None, "--password", help="The new password (default: asked for, twice)."),
    db: Optional[str] = DB,
):
    """Set a new password for a user (stored as an argon2 hash only); their earlier tokens stop working."""
    from api.auth import get_user, update_user
    from api.store import NotFoundError, Store

    settings = _settings(db)
    try:
        store = Store(settings.database_url)
        if get_user(store, name) is None:  # before asking for a password
            raise NotFoundError(f"no user {name!r}")
        if password is None:
            password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
        update_user(store, name, password=password, settings=settings)
    except WanggeError as e:
        fail(e)
    err.print(f"new password set for {escape(name)}", highlight=False)


@users_app.command("delete")
def users_delete(
    name: str = typer.Argument(..., help="User name."),
    db: Optional[str] = DB,
):
    """Remove a user (their tokens stop working at once; the proposals' history keeps their name)."""
    from api.auth import delete_user
    from api.store import Store

    try:
        delete_user(Store(_settings(db).database_url), name)
    except WanggeError as e:
        fail(e)
    err.print(f"deleted {escape(name)}", highlight=False)


app.add_typer(users_app, name="users")

"""What differs between the databases a store can be in: :class:`Backend`, and :func:`open_backend`.

The store (:class:`api.store.Store`) keeps a city's versions the same way in every database; a
backend answers what each database does its own way: how to connect, how writers and migrations
keep out of each other's way, and the spatial questions (a page of the features meeting some areas,
a vector tile), which PostGIS answers in SQL and the embedded SQLite store with its R*Tree and shapely.

Examples
--------
>>> open_backend("sqlite://").name
'sqlite'
>>> open_backend("mysql://db")
Traceback (most recent call last):
api.errors.StoreError: unsupported database 'mysql': use postgresql+psycopg:// (PostGIS) or sqlite:/// (embedded)
"""

from __future__ import annotations

from types import MappingProxyType

import sqlalchemy as sa

from api.errors import StoreError
from api.models import TABLES
from api.store.geojson import GeoJSONPage


class Backend:
    """One kind of database under a store; its SQLAlchemy ``engine``.

    The methods here are what a database without a special way does; :class:`api.store.sqlite.SQLite`
    and :class:`api.store.postgis.PostGIS` override what they do their own way.
    """

    #: Its name in a database URL.
    name = ""
    #: Said after an error setting up the schema: what may be missing.
    setup_hint = ""
    #: The largest layer (features) held in memory for tiles, and the layers held, by (layer, the
    #: version it changed in): none here.
    tile_cache = 0
    held = MappingProxyType({})

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def serialise_migration(self, conn) -> None:
        """In the migration's transaction, before it starts: wait while another process migrates
        (here nothing: the database lets one writer in at a time)."""

    def lock_versions(self, conn) -> None:
        """In a transaction that writes a new version: keep other writers of versions out until it ends
        (here nothing: the transaction began with the write lock)."""

    def repeatable_read(self, conn) -> None:
        """At the start of a transaction that reads several tables: make it see one state of them all
        (here nothing: the database's transactions do)."""

    def row_srid(self, srid: int) -> int | None:
        """The SRID written into stored geometries (None: none, the versions row has the CRS)."""
        return None

    def page(self, conn, layer: str, query, where: list, areas: list, srid: int, limit: int,
             offset: int) -> tuple[list, int]:
        """One page of the rows of ``query`` (a select from the layer's table, in fid order) that meet
        the conditions ``where`` and intersect each of ``areas`` (polygons in the city's CRS, SRID
        ``srid``), and how many rows match in all."""
        raise NotImplementedError

    def counted(self, conn, layer: str, query, where: list, limit: int, offset: int) -> tuple[list, int]:
        """:meth:`page` for conditions SQL states: one page of the rows of ``query`` meeting ``where``,
        and how many rows of the layer meet them."""
        t = TABLES[layer]
        matched = conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar()
        rows = conn.execute(query.where(*where).limit(limit).offset(offset)).mappings().all()
        return rows, int(matched)

    def geojson(self, conn, layer: str, columns: list[str], srid: int, areas: list, codes, limit: int,
                offset: int) -> GeoJSONPage | None:
        """The page of :meth:`page` as GeoJSON features written by the database (the text
        :func:`api.store.geojson.geojson_features` writes), or None: the store writes them (here, always).
        ``codes``: the column and the values a feature's must be one of (None: any)."""
        return None

    def tile(self, conn, layer: str, cur: dict, zxy: tuple[int, int, int], near, codes, area) -> bytes:
        """The vector tile ``zxy`` of the newest ``layer`` (the versions row ``cur``), as
        :meth:`api.store.Store.tile` describes it: the features whose geometry meets the EPSG:3857 box
        ``near`` (the part of the tile near the layer), only those whose column ``codes[0]`` is one of
        ``codes[1]`` and those intersecting ``area`` (in the city's CRS) when given."""
        raise NotImplementedError


def open_backend(url: str, *, tile_cache: int = 0) -> Backend:
    """The backend of the database ``url`` names (PostGIS or SQLite), its engine made.

    Parameters
    ----------
    url : str
        A SQLAlchemy URL: ``postgresql+psycopg://…`` or ``sqlite:///path`` (``sqlite://``: in memory).
    tile_cache : int, default 0
        SQLite: layers of up to this many features are held in memory for vector tiles.

    Returns
    -------
    Backend
        :class:`api.store.postgis.PostGIS` or :class:`api.store.sqlite.SQLite`; StoreError for
        another database or a text that is not a URL (see the module's example).
    """
    from api.store.postgis import PostGIS
    from api.store.sqlite import SQLite

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as e:
        raise StoreError(f"not a database URL: {url!r} ({e})") from None
    name = parsed.get_backend_name()
    if name == PostGIS.name:
        return PostGIS(url)
    if name == SQLite.name:
        return SQLite(parsed, tile_cache=tile_cache)
    raise StoreError(f"unsupported database {name!r}: use postgresql+psycopg:// "
                     "(PostGIS) or sqlite:/// (embedded)")

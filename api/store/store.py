"""The store: a city's versions in a database (:class:`Store`), the same over either backend.

Examples
--------
>>> from gis import read_city
>>> store = Store("sqlite://")                        # in memory; a file: sqlite:///city.sqlite
>>> store.load(read_city("data/sample.gpkg"), source="sample.gpkg")
1
>>> page = store.features("grids", bbox=(115.85, 28.68, 115.87, 28.70), limit=5)
>>> page.matched >= len(page.frame)
True
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import shapely
import sqlalchemy as sa

from api.errors import ConflictError, EmptyStoreError, NotFoundError, StaleError, StoreError
from api.models import HISTORY, LAYERS, TABLES, versions
from api.store.backend import open_backend
from api.store.geojson import GeoJSONPage, frame_geojson, geojson_features
from api.store.projection import near_area, wgs84_bounds
from api.store.rows import layer_frame, layer_meta, layer_rows
from api.store.scope import Scope
from api.store.tiles import TILE_CACHE_FEATURES, check_tile, near_tile, tile_envelope
from gis.errors import InputError
from gis.model import SCHEMA, City

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


@dataclass
class Page:
    """One page of a layer: ``frame`` (in the city's CRS, in source order) and how many matched."""

    frame: gpd.GeoDataFrame
    matched: int


def _redacted(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _first_line(e: Exception) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class Store:
    """A city in a database (see :mod:`api.store`).

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``postgresql+psycopg://user:password@host:port/db`` (PostGIS, with the
        ``postgis`` extension created) or ``sqlite:///path/to/file.sqlite`` (``sqlite://`` in memory).
    tile_cache : int, optional
        SQLite: a layer of up to this many features (default :data:`TILE_CACHE_FEATURES`) is held
        in memory (in EPSG:3857, with an STRtree) for its vector tiles, made again in each process
        only when the layer changes; a larger one is read for each tile through the R*Tree.

    Attributes
    ----------
    backend : api.store.backend.Backend
        What the database does its own way (:class:`~api.store.sqlite.SQLite` or
        :class:`~api.store.postgis.PostGIS`).
    engine : sqlalchemy.Engine
        Its engine.
    """

    def __init__(self, url: str, *, tile_cache: int | None = None):
        self.url = url
        self.backend = open_backend(url, tile_cache=TILE_CACHE_FEATURES if tile_cache is None else tile_cache)
        self.engine = self.backend.engine
        self._lock = threading.Lock()  # one writer per Store object (the database serialises the rest)
        self._extents: dict[tuple[str, int], tuple | None] = {}  # (layer, version): WGS84 bounds
        self._scopes: dict[tuple[str, int], Scope] = {}  # (street, version)
        self.migrate()

    def __repr__(self) -> str:
        return f"Store({_redacted(self.url)!r})"

    @property
    def tile_cache(self) -> int:
        """SQLite: the largest layer (features) held in memory for vector tiles (settable; 0: none)."""
        return self.backend.tile_cache

    @tile_cache.setter
    def tile_cache(self, features: int) -> None:
        self.backend.tile_cache = features

    @property
    def _tile_layers(self):
        """The layers held in memory for tiles, by (layer, the version it changed in)."""
        return self.backend.held

    # -- transactions and schema ------------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """A connection in one transaction, for the tables kept beside the city (users, proposals).

        The transaction commits when the block ends and rolls back when it raises. A writer says so
        (``write=True``): on SQLite its transaction begins holding the write lock (``BEGIN
        IMMEDIATE``), so two writers wait for each other instead of failing halfway.

        Parameters
        ----------
        write : bool, default False
            Whether the block writes.

        Yields
        ------
        sqlalchemy.Connection
            For SQLAlchemy Core statements on :mod:`api.models` tables.

        Examples
        --------
        >>> from api.models import config
        >>> store = Store("sqlite://")
        >>> with store.transaction(write=True) as conn:
        ...     _ = conn.execute(sa.insert(config).values(key="motto", value="人无遗漏"))
        >>> with store.transaction() as conn:
        ...     conn.execute(sa.select(config.c.value).where(config.c.key == "motto")).scalar()
        '人无遗漏'
        """
        with self._connect(write) as conn, conn.begin():
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest alembic revision (does nothing when it is there)."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        try:
            with self.engine.begin() as conn:
                if MigrationContext.configure(conn).get_current_revision() == head:
                    return
                self.backend.serialise_migration(conn)
                if MigrationContext.configure(conn).get_current_revision() == head:
                    return
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except sa.exc.OperationalError as e:
            raise StoreError(f"cannot open the database {_redacted(self.url)}: {_first_line(e)}") from None
        except sa.exc.ProgrammingError as e:
            raise StoreError(f"cannot set up the database {_redacted(self.url)}: {_first_line(e)}"
                             f"{self.backend.setup_hint}") from None

    def _connect(self, write: bool = False):
        try:
            conn = self.engine.connect()
        except sa.exc.OperationalError as e:
            raise StoreError(f"cannot reach the database {_redacted(self.url)}: {_first_line(e)}") from None
        return conn.execution_options(sqlite_write=True) if write else conn

    @contextmanager
    def _snapshot_read(self):
        """A connection in a transaction that sees one state of every table."""
        with self._connect() as conn, conn.begin():
            self.backend.repeatable_read(conn)
            yield conn

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # -- history ---------------------------------------------------------------------------------------

    def version(self) -> int:
        """The number of the stored city's version (0: nothing loaded yet)."""
        with self._connect() as conn:
            return self._newest(conn)

    def history(self) -> list[dict]:
        """Every version, oldest first: ``version``, ``created_at``, ``action``, ``source``, ``layers``."""
        with self._connect() as conn:
            rows = conn.execute(sa.select(versions).order_by(versions.c.version)).mappings().all()
        out = [{k: v for k, v in r.items() if k not in ("crs", "srid")} for r in rows]
        for r in out:  # SQLite keeps no time zone: the times are written in UTC
            r["created_at"] = r["created_at"].replace(tzinfo=r["created_at"].tzinfo or timezone.utc)
        return out

    def _current(self, conn) -> dict:
        row = conn.execute(sa.select(versions).order_by(versions.c.version.desc()).limit(1)).mappings().first()
        if row is None:
            raise EmptyStoreError("no city loaded yet: wangge load CITY.gpkg")
        return dict(row)

    def _newest(self, conn) -> int:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(versions.c.version), 0))).scalar())

    # -- writing ---------------------------------------------------------------------------------------

    def load(self, city: City, *, source: str | None = None) -> int:
        """Replace the stored city with ``city`` in one transaction; return the new version number."""
        _known(city.layers, source)
        crs = city.crs
        epsg = crs.to_epsg() if crs is not None else None
        srid = epsg or 0
        rows = {name: layer_rows(name, gdf, self.backend.row_srid(srid)) for name, gdf in city.layers.items()}
        with self._writing() as conn:
            version = self._newest(conn) + 1
            for name in LAYERS:
                self._archive(conn, name, version)
            for name, records in rows.items():
                self._insert(conn, name, [{**r, "version_from": version} for r in records])
            conn.execute(sa.insert(versions).values(
                version=version, created_at=datetime.now(timezone.utc), action="load", source=source or city.source,
                crs=crs.to_wkt() if crs is not None else "", srid=srid,
                layers={name: layer_meta(gdf, version) for name, gdf in city.layers.items()}))
        return version

    def commit(self, layers: dict[str, gpd.GeoDataFrame], *, base_version: int, action: str,
               source: str | None = None, author: str | None = None, why: str | None = None,
               proposal_id: int | None = None, street_code: str | None = None, before_commit=None) -> int:
        """Replace some layers of the stored city (frames in its CRS) in one transaction, as a new version.

        Refused (:class:`StaleError`) unless the stored city is still ``base_version``. The replaced
        rows move to the history tables. ``before_commit(conn, version)`` runs last, inside the same
        transaction (a proposal records its new state there: all of it happens, or none).
        """
        _known(layers)
        with self._writing() as conn:
            cur = self._current(conn)
            if int(cur["version"]) != base_version:
                raise StaleError(f"the city is at version {cur['version']}, this change was made for version "
                                 f"{base_version}: make it again on the current city")
            version = base_version + 1
            srid = int(cur["srid"])
            meta = dict(cur["layers"])
            for name, gdf in layers.items():
                records = layer_rows(name, gdf, self.backend.row_srid(srid))
                self._archive(conn, name, version)
                self._insert(conn, name, [{**r, "version_from": version} for r in records])
                meta[name] = layer_meta(gdf, version)
            conn.execute(sa.insert(versions).values(
                version=version, created_at=datetime.now(timezone.utc), action=action, source=source,
                crs=cur["crs"], srid=srid, layers=meta, author=author, why=why, proposal_id=proposal_id,
                street_code=street_code))
            if before_commit is not None:
                before_commit(conn, version)
        return version

    @contextmanager
    def _writing(self):
        """The transaction of a new version: this object's writer lock, the database's, versions locked."""
        with self._lock, self.transaction(write=True) as conn:
            self.backend.lock_versions(conn)
            yield conn

    def _archive(self, conn, name: str, version: int) -> None:
        """Close the current rows of a layer at ``version``: copy them to its history table, delete them."""
        t, h = TABLES[name], HISTORY[name]
        cols = [c.name for c in t.columns]
        conn.execute(sa.insert(h).from_select(cols + ["version_to"],
                                              sa.select(*(t.c[c] for c in cols), sa.literal(version, sa.Integer))))
        conn.execute(sa.delete(t))

    def _insert(self, conn, name: str, records: list[dict]) -> None:
        """Insert one layer's rows (a seam for tests of atomicity)."""
        if records:
            conn.execute(sa.insert(TABLES[name]), records)

    # -- reading ---------------------------------------------------------------------------------------

    def city(self) -> City:
        """The stored city, layers in their stored order and CRS."""
        return self.snapshot()[1]

    def snapshot(self, version: int | None = None) -> tuple[int, City]:
        """The stored city (as of ``version``, default the newest) and its version number, read in one
        consistent transaction."""
        with self._snapshot_read() as conn:
            cur = self._at(conn, version)
            crs = _crs(cur)
            layers = {name: self._layer_at(conn, name, cur, crs) for name in cur["layers"]}
        return int(cur["version"]), City(layers, source=f"{_redacted(self.url)} version {cur['version']}")

    def _at(self, conn, version: int | None) -> dict:
        """The versions row of ``version`` (None: the newest); NotFoundError when there is none."""
        cur = self._current(conn)
        if version is None or version == cur["version"]:
            return cur
        row = conn.execute(sa.select(versions).where(versions.c.version == version)).mappings().first()
        if row is None:
            raise NotFoundError(f"no version {version} (versions 1–{cur['version']})")
        return dict(row)

    def _layer_at(self, conn, name: str, at: dict, crs, where=None) -> gpd.GeoDataFrame:
        """A layer as of the version of the versions row ``at``, in fid order; only the rows meeting
        ``where(table)`` (a condition on the layer's table or its history table) if given."""
        t, h = TABLES[name], HISTORY[name]
        v = int(at["version"])
        current = conn.execute(sa.select(t).where(t.c.version_from <= v, *([where(t)] if where else []))
                               .order_by(t.c.fid)).mappings().all()
        old = conn.execute(sa.select(h).where(h.c.version_from <= v, h.c.version_to > v,
                                              *([where(h)] if where else []))).mappings().all() \
            if v < self._newest(conn) else []
        rows = sorted([*current, *old], key=lambda r: r["fid"])
        return layer_frame(name, rows, at["layers"][name]["columns"], crs)

    def scope(self, street_code: str, version: int | None = None) -> Scope:
        """The :class:`Scope` of one street (as of ``version``); NotFoundError for an unknown street.

        Kept per street and version (a version never changes), as every request of street staff asks.
        """
        with self._snapshot_read() as conn:
            at = self._at(conn, version)
            key = (street_code, int(at["version"]))
            if key in self._scopes:
                return self._scopes[key]
            crs = _crs(at)
            if "streets" not in at["layers"]:
                raise NotFoundError("the stored city has no streets")
            street = self._layer_at(conn, "streets", at, crs, where=lambda t: t.c.code == street_code)
            comms = set(self._layer_at(conn, "communities", at, crs, where=lambda t: t.c.street_code == street_code)
                        ["code"]) if "communities" in at["layers"] else set()
        if street.empty:
            raise NotFoundError(f"no street {street_code!r}")
        scope = Scope.of(street_code, street, comms, crs)
        if len(self._scopes) >= 256:
            self._scopes.clear()
        self._scopes[key] = scope
        return scope

    def layers(self) -> dict[str, dict]:
        """Layers of the stored city: ``{layer: {"columns": [...], "count": n, "changed": version}}`` (the
        version it last changed in; {} when empty)."""
        with self._connect() as conn:
            try:
                return self._current(conn)["layers"]
            except EmptyStoreError:
                return {}

    def crs(self) -> pyproj.CRS:
        """The CRS the city is stored in."""
        with self._connect() as conn:
            return pyproj.CRS.from_wkt(self._current(conn)["crs"])

    def extent(self, layer: str) -> tuple[float, float, float, float] | None:
        """Bounds of ``layer`` in WGS84 (lon/lat), or None when it has no geometry."""
        with self._connect() as conn:
            return self._extent(conn, layer, self._layer(conn, layer))

    def _extent(self, conn, layer: str, cur: dict):
        """``extent`` of the layer in the version of the versions row ``cur`` (the newest), kept per version."""
        key = (layer, int(cur["version"]))
        if key not in self._extents:
            t = TABLES[layer]
            b = conn.execute(sa.select(sa.func.min(t.c.minx), sa.func.min(t.c.miny),
                                       sa.func.max(t.c.maxx), sa.func.max(t.c.maxy))).one()
            self._extents[key] = None if b[0] is None else wgs84_bounds(b, cur["crs"] or None)
        return self._extents[key]

    def features(self, layer: str, *, bbox=None, limit: int = 100, offset: int = 0,
                 scope: Scope | None = None, version: int | None = None) -> Page:
        """Features of ``layer`` in source order, those intersecting ``bbox`` (WGS84 lon/lat) if given,
        only those in ``scope`` if given, as of ``version`` if given (default: the newest).

        The bbox is densified and projected to the city's CRS, so both backends test the same polygon.
        """
        with self._connect() as conn:
            cur = self._current(conn)
            if version is not None and version != cur["version"]:
                return self._features_at(conn, layer, version, bbox, limit, offset, scope)
            self._layer(conn, layer, cur)
            rows, matched = self._page(conn, layer, cur, sa.select(TABLES[layer]),
                                       self._filters(conn, layer, cur, bbox, scope), limit, offset)
        return Page(layer_frame(layer, rows, cur["layers"][layer]["columns"], _crs(cur)), matched)

    def features_geojson(self, layer: str, *, bbox=None, limit: int = 100, offset: int = 0,
                         scope: Scope | None = None, version: int | None = None) -> GeoJSONPage:
        """The page :meth:`features` answers, as GeoJSON features (see
        :func:`~api.store.geojson.geojson_features`).

        PostGIS writes them (``ST_AsGeoJSON``, ``ST_Transform``, ``to_json``) into one text; the
        embedded store (and a city whose CRS has no EPSG code, or an older version) writes them here,
        with all geometries of the page projected and written at once (shapely).
        """
        with self._connect() as conn:
            cur = self._current(conn)
            if version is None or version == cur["version"]:
                self._layer(conn, layer, cur)
                columns = cur["layers"][layer]["columns"]
                codes, areas = selected = self._filters(conn, layer, cur, bbox, scope)
                if _nothing(layer, codes, areas):
                    return GeoJSONPage("", 0, 0)
                page = self.backend.geojson(conn, layer, columns, int(cur["srid"]), areas, codes, limit, offset)
                if page is not None:
                    return page
                t = TABLES[layer]
                query = sa.select(*(t.c[c] for c in columns if c in SCHEMA[layer]), t.c.extra,
                                  sa.type_coerce(t.c.geom, sa.LargeBinary).label("geom"))
                rows, matched = self._page(conn, layer, cur, query, selected, limit, offset)
                props = [{c: r[c] if c in SCHEMA[layer] else (r["extra"] or {}).get(c) for c in columns}
                         for r in rows]
                geoms = shapely.from_wkb(np.array([r["geom"] for r in rows], dtype=object))
                return GeoJSONPage.of(geojson_features(props, geoms, cur["crs"] or None), matched)
            page = self._features_at(conn, layer, version, bbox, limit, offset, scope)
        return GeoJSONPage.of(frame_geojson(page.frame), page.matched)

    def _filters(self, conn, layer: str, cur: dict, bbox, scope) -> tuple[tuple | None, list]:
        """What selects the features of a page of the newest ``layer``: the column and the values its
        codes must be one of (None: any), and the areas (city CRS) they must intersect: the WGS84
        ``bbox`` near the layer, the scope's area."""
        codes, areas = None, []
        if bbox is not None:
            areas.append(near_area(bbox, self._extent(conn, layer, cur), cur["crs"] or None))
        if scope is not None:
            if layer in scope.codes:
                codes = scope.codes[layer]
            else:
                areas.append(scope.area)
        return codes, areas

    def _page(self, conn, layer: str, cur: dict, query, selected: tuple, limit: int, offset: int) -> tuple[list, int]:
        """Rows of ``query`` (a select from the layer's table) on one page of the newest ``layer``, in fid
        order, and how many rows match in all; ``selected``: the codes and areas of :meth:`_filters`."""
        t = TABLES[layer]
        codes, areas = selected
        if _nothing(layer, codes, areas):
            return [], 0
        where = [] if codes is None else [t.c[codes[0]].in_(sorted(codes[1]))]
        return self.backend.page(conn, layer, query.order_by(t.c.fid), where, areas, int(cur["srid"]), limit, offset)

    def _features_at(self, conn, layer, version, bbox, limit, offset, scope) -> Page:
        """``features`` as of an older version: read the layer as it was, filter in shapely."""
        at = self._at(conn, version)
        if layer not in at["layers"]:
            raise NotFoundError(f"no layer {layer!r} in version {version} (it has: {', '.join(at['layers'])})")
        frame = self._layer_at(conn, layer, at, _crs(at))
        geoms = np.asarray(frame.geometry.values, dtype=object)
        keep = np.ones(len(frame), bool)
        if bbox is not None:
            b = shapely.total_bounds(geoms)
            extent = None if np.isnan(b[0]) else wgs84_bounds(b, at["crs"] or None)
            keep &= np.asarray(shapely.intersects(geoms, near_area(bbox, extent, at["crs"] or None)), bool)
        if scope is not None:
            keep &= scope.mask(layer, frame)
        hits = frame[keep]
        return Page(hits.iloc[offset:offset + limit].reset_index(drop=True), int(len(hits)))

    def tile(self, layer: str, z: int, x: int, y: int, *, scope: Scope | None = None) -> bytes:
        """A Mapbox Vector Tile (WebMercatorQuad ``z/x/y``, y from the top) of the newest ``layer``.

        The features whose geometry intersects the tile's envelope (EPSG:3857), only those in
        ``scope`` if given, clipped to the envelope plus a buffer of
        :data:`~api.store.tiles.TILE_BUFFER` units of :data:`~api.store.tiles.TILE_EXTENT`; properties
        ``code``, ``name`` and the counts (``households``, ``residents``) the layer has; feature id:
        the stored ``fid``. ``b""`` when no feature is in it. The backend makes it
        (:meth:`api.store.backend.Backend.tile`).
        """
        check_tile(z, x, y)
        with self._connect() as conn:
            cur = self._layer(conn, layer)
            codes, areas = self._filters(conn, layer, cur, None, scope)  # areas: the scope's, if any
            if _nothing(layer, codes, areas):
                return b""
            near = near_tile(tile_envelope(z, x, y), self._extent(conn, layer, cur))
            if near is None:
                return b""
            return self.backend.tile(conn, layer, cur, (z, x, y), near, codes, areas[0] if areas else None)

    def feature(self, layer: str, code: str, *, scope: Scope | None = None,
                version: int | None = None) -> gpd.GeoDataFrame:
        """The feature of ``layer`` with this ``code`` (one row); outside ``scope`` it is not found."""
        with self._connect() as conn:
            cur = self._at(conn, version)
            if layer not in cur["layers"]:
                raise NotFoundError(f"no layer {layer!r} in the stored city (it has: {', '.join(cur['layers'])})")
            if "code" not in cur["layers"][layer]["columns"]:
                raise NotFoundError(f"{layer} has no codes")
            if version is None or version == self._newest(conn):
                t = TABLES[layer]
                rows = conn.execute(sa.select(t).where(t.c.code == code).order_by(t.c.fid).limit(3)).mappings().all()
                frame = layer_frame(layer, rows, cur["layers"][layer]["columns"], pyproj.CRS.from_wkt(cur["crs"]))
            else:
                frame = self._layer_at(conn, layer, cur, pyproj.CRS.from_wkt(cur["crs"]))
                frame = frame[frame["code"] == code].reset_index(drop=True)
        if scope is not None:
            frame = frame[scope.mask(layer, frame)].reset_index(drop=True)
        if frame.empty:
            raise NotFoundError(f"no feature with code {code!r} in {layer}")
        if len(frame) > 1:
            raise ConflictError(f"code {code!r} is not unique in {layer} ({len(frame)} features); "
                                "see the duplicate_id findings")
        return frame

    def _layer(self, conn, layer: str, cur: dict | None = None) -> dict:
        """The newest versions row (``cur`` if given); NotFoundError unless it has ``layer``."""
        cur = cur or self._current(conn)
        if layer not in cur["layers"]:
            raise NotFoundError(f"no layer {layer!r} in the stored city (it has: {', '.join(cur['layers'])})")
        return cur


def _known(layers, source: str | None = None) -> None:
    """InputError unless a store holds every one of ``layers``."""
    unknown = sorted(set(layers) - set(LAYERS))
    if unknown:
        raise InputError(f"unknown layer(s) {unknown}; a store holds {', '.join(LAYERS)}", file=source)


def _crs(row: dict) -> pyproj.CRS | None:
    """The CRS of a versions row (None: the city has none)."""
    return pyproj.CRS.from_wkt(row["crs"]) if row["crs"] else None


def _nothing(layer: str, codes, areas: list) -> bool:
    """Whether no feature can be selected: an empty area, or codes of a column the layer lacks or of none."""
    return any(shapely.is_empty(a) for a in areas) or (
        codes is not None and (codes[0] not in TABLES[layer].c or not codes[1]))

"""The store: a city in a database, PostGIS or the embedded SQLite default, behind one interface.

``Store(url)`` opens (and migrates, with alembic) the database named by ``url``:
``postgresql+psycopg://…`` for PostGIS, ``sqlite:///path`` for the embedded store, which needs no
server (this Python's sqlite3 cannot load SpatiaLite: geometry is WKB with bounding-box columns, an
R*Tree narrows spatial queries and shapely decides them). Both answer the same questions the same way.

- :meth:`Store.load` replaces the stored city with a :class:`gis.model.City` in one transaction (all
  or nothing) and appends a row to the history; its number is the new city version.
- :meth:`Store.city` reads the stored city back as a ``City`` (``gis.io.write_city`` exports it).
- :meth:`Store.features` pages through a layer, optionally the features intersecting a WGS84 bbox;
  :meth:`Store.features_geojson` answers the same page as GeoJSON text (written by PostGIS, or all
  at once by shapely on the embedded store); :meth:`Store.feature` finds one by code.

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

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from api import mvt
from api.models import HISTORY, LAYERS, TABLES, versions
from gis.errors import InputError, WanggeError
from gis.model import SCHEMA, City

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BBOX = ("minx", "miny", "maxx", "maxy")


class StoreError(WanggeError):
    """The database could not be reached or used."""


class NotFoundError(StoreError):
    """No such layer or feature in the stored city."""


class EmptyStoreError(NotFoundError):
    """No city has been loaded into the store yet."""


class ConflictError(StoreError):
    """The request names more than one thing (a code shared by several features)."""


class StaleError(ConflictError):
    """A change was prepared against a city version that is no longer the newest."""


@dataclass
class Scope:
    """What one street's staff may see: its units by code, other features by the street's area.

    ``codes``: per unit layer, the column and the values allowed (streets by code, communities by
    street code, grids by community code); ``area``: the street's polygon in the city's CRS, eroded by
    1 m so that features of the neighbouring streets that only touch its boundary stay out.
    """

    street: str
    codes: dict
    area: object

    def mask(self, layer: str, frame: gpd.GeoDataFrame) -> np.ndarray:
        """Which rows of ``frame`` (a frame of ``layer``) are in scope."""
        if layer in self.codes:
            col, allowed = self.codes[layer]
            if col not in frame:
                return np.zeros(len(frame), bool)
            return frame[col].isin(allowed).to_numpy()
        geoms = np.asarray(frame.geometry.values, dtype=object)
        return np.asarray(shapely.intersects(geoms, self.area), bool) & ~shapely.is_missing(geoms)


@dataclass
class Page:
    """One page of a layer: ``frame`` (in the city's CRS, in source order) and how many matched."""

    frame: gpd.GeoDataFrame
    matched: int


@dataclass
class GeoJSONPage:
    """One page of a layer as GeoJSON: ``features``, the JSON texts of its features joined by commas
    (what goes between the brackets of a FeatureCollection's ``features``); how many are on the page
    (``returned``) and how many matched in all (``matched``)."""

    features: str
    matched: int
    returned: int

    @classmethod
    def of(cls, features: list[str], matched: int) -> GeoJSONPage:
        """The page of these feature texts."""
        return cls(",".join(features), matched, len(features))


def _redacted(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


class Store:
    """A city in a database (see the module docstring).

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``postgresql+psycopg://user:password@host:port/db`` (PostGIS, with the
        ``postgis`` extension created) or ``sqlite:///path/to/file.sqlite`` (``sqlite://`` in memory).
    tile_cache : int, optional
        SQLite: a layer of up to this many features (default :data:`TILE_CACHE_FEATURES`) is held
        in memory (in EPSG:3857, with an STRtree) for its vector tiles, made again in each process
        only when the layer changes; a larger one is read for each tile through the R*Tree.
    """

    def __init__(self, url: str, *, tile_cache: int | None = None):
        self.url = url
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as e:
            raise StoreError(f"not a database URL: {url!r} ({e})") from None
        self.postgis = parsed.get_backend_name() == "postgresql"
        if not self.postgis and parsed.get_backend_name() != "sqlite":
            raise StoreError(f"unsupported database {parsed.get_backend_name()!r}: use postgresql+psycopg:// "
                             "(PostGIS) or sqlite:/// (embedded)")
        if self.postgis:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        else:
            memory = parsed.database in (None, "", ":memory:")
            if not memory:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(url, poolclass=StaticPool if memory else None,
                                           connect_args={"check_same_thread": False, "timeout": 30})
            _sqlite_transactions(self.engine, wal=not memory)
        self._lock = threading.Lock()  # one writer per Store object (the database serialises the rest)
        self._extents: dict[tuple[str, int], tuple | None] = {}  # (layer, version): WGS84 bounds
        self._scopes: dict[tuple[str, int], Scope] = {}  # (street, version)
        self.tile_cache = TILE_CACHE_FEATURES if tile_cache is None else tile_cache
        self._tile_layers: dict[tuple[str, int], _TileLayer] = {}  # (layer, version it changed in)
        self._tile_lock = threading.Lock()
        self.migrate()
        self.rtree = not self.postgis and sa.inspect(self.engine).has_table("grids_rtree")

    def __repr__(self) -> str:
        return f"Store({_redacted(self.url)!r})"

    # -- schema ---------------------------------------------------------------------------------------

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
                if self.postgis:  # two processes opening a new database: one migrates, one waits
                    conn.execute(sa.text("select pg_advisory_xact_lock(hashtext('wangge-migrate'))"))
                    if MigrationContext.configure(conn).get_current_revision() == head:
                        return
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except sa.exc.OperationalError as e:
            raise StoreError(f"cannot open the database {_redacted(self.url)}: {_first_line(e)}") from None
        except sa.exc.ProgrammingError as e:
            hint = " (is the postgis extension created? create extension postgis)" if self.postgis else ""
            raise StoreError(f"cannot set up the database {_redacted(self.url)}: {_first_line(e)}{hint}") from None

    # -- history ---------------------------------------------------------------------------------------

    def version(self) -> int:
        """The number of the stored city's version (0: nothing loaded yet)."""
        with self._connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(versions.c.version), 0))).scalar())

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

    # -- writing ---------------------------------------------------------------------------------------

    def load(self, city: City, *, source: str | None = None) -> int:
        """Replace the stored city with ``city`` in one transaction; return the new version number."""
        unknown = sorted(set(city.layers) - set(LAYERS))
        if unknown:
            raise InputError(f"unknown layer(s) {unknown}; a store holds {', '.join(LAYERS)}", file=source)
        crs = city.crs
        epsg = crs.to_epsg() if crs is not None else None
        srid = epsg or 0
        rows = {name: _rows(name, gdf, srid if self.postgis else None) for name, gdf in city.layers.items()}
        with self._lock, self._connect(write=True) as conn, conn.begin():
            if self.postgis:
                conn.execute(sa.text("lock table versions in exclusive mode"))
            version = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(versions.c.version), 0))).scalar()) + 1
            meta = {name: _layer_meta(gdf, version) for name, gdf in city.layers.items()}
            for name in LAYERS:
                self._archive(conn, name, version)
            for name, records in rows.items():
                self._insert(conn, name, [{**r, "version_from": version} for r in records])
            conn.execute(sa.insert(versions).values(
                version=version, created_at=datetime.now(timezone.utc), action="load", source=source or city.source,
                crs=crs.to_wkt() if crs is not None else "", srid=srid, layers=meta))
        return version

    def commit(self, layers: dict[str, gpd.GeoDataFrame], *, base_version: int, action: str,
               source: str | None = None, author: str | None = None, why: str | None = None,
               proposal_id: int | None = None, street_code: str | None = None, before_commit=None) -> int:
        """Replace some layers of the stored city (frames in its CRS) in one transaction, as a new version.

        Refused (:class:`StaleError`) unless the stored city is still ``base_version``. The replaced
        rows move to the history tables. ``before_commit(conn, version)`` runs last, inside the same
        transaction (a proposal records its new state there: all of it happens, or none).
        """
        unknown = sorted(set(layers) - set(LAYERS))
        if unknown:
            raise InputError(f"unknown layer(s) {unknown}; a store holds {', '.join(LAYERS)}")
        with self._lock, self._connect(write=True) as conn, conn.begin():
            if self.postgis:
                conn.execute(sa.text("lock table versions in exclusive mode"))
            cur = self._current(conn)
            if int(cur["version"]) != base_version:
                raise StaleError(f"the city is at version {cur['version']}, this change was made for version "
                                 f"{base_version}: make it again on the current city")
            version = base_version + 1
            srid = int(cur["srid"])
            meta = dict(cur["layers"])
            for name, gdf in layers.items():
                records = _rows(name, gdf, srid if self.postgis else None)
                self._archive(conn, name, version)
                self._insert(conn, name, [{**r, "version_from": version} for r in records])
                meta[name] = _layer_meta(gdf, version)
            conn.execute(sa.insert(versions).values(
                version=version, created_at=datetime.now(timezone.utc), action=action, source=source,
                crs=cur["crs"], srid=srid, layers=meta, author=author, why=why, proposal_id=proposal_id,
                street_code=street_code))
            if before_commit is not None:
                before_commit(conn, version)
        return version

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
        with self._connect() as conn, conn.begin():
            if self.postgis:
                conn.execute(sa.text("set transaction isolation level repeatable read"))
            cur = self._at(conn, version)
            crs = pyproj.CRS.from_wkt(cur["crs"]) if cur["crs"] else None
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
        return _frame(name, rows, at["layers"][name]["columns"], crs)

    def _newest(self, conn) -> int:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(versions.c.version), 0))).scalar())

    def scope(self, street_code: str, version: int | None = None) -> Scope:
        """The :class:`Scope` of one street (as of ``version``); NotFoundError for an unknown street.

        Kept per street and version (a version never changes), as every request of street staff asks.
        """
        with self._connect() as conn, conn.begin():
            if self.postgis:
                conn.execute(sa.text("set transaction isolation level repeatable read"))
            at = self._at(conn, version)
            key = (street_code, int(at["version"]))
            if key in self._scopes:
                return self._scopes[key]
            crs = pyproj.CRS.from_wkt(at["crs"]) if at["crs"] else None
            if "streets" not in at["layers"]:
                raise NotFoundError("the stored city has no streets")
            street = self._layer_at(conn, "streets", at, crs, where=lambda t: t.c.code == street_code)
            comms = set(self._layer_at(conn, "communities", at, crs, where=lambda t: t.c.street_code == street_code)
                        ["code"]) if "communities" in at["layers"] else set()
        if street.empty:
            raise NotFoundError(f"no street {street_code!r}")
        scope = Scope(street_code, {"streets": ("code", {street_code}), "communities": ("street_code", {street_code}),
                                    "grids": ("community_code", comms)},
                      _eroded(shapely.union_all(np.asarray(street.geometry.values, dtype=object)), crs))
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
            rows, matched = self._page(conn, layer, cur, sa.select(TABLES[layer]), bbox, limit, offset, scope)
        crs = pyproj.CRS.from_wkt(cur["crs"]) if cur["crs"] else None
        return Page(_frame(layer, rows, cur["layers"][layer]["columns"], crs), matched)

    def features_geojson(self, layer: str, *, bbox=None, limit: int = 100, offset: int = 0,
                         scope: Scope | None = None, version: int | None = None) -> GeoJSONPage:
        """The page :meth:`features` answers, as GeoJSON features (see :func:`geojson_features`).

        PostGIS writes them (``ST_AsGeoJSON``, ``ST_Transform``, ``to_json``) into one text; the
        embedded store (and a city whose CRS has no EPSG code, or an older version) writes them here,
        with all geometries of the page projected and written at once (shapely).
        """
        with self._connect() as conn:
            cur = self._current(conn)
            if version is None or version == cur["version"]:
                self._layer(conn, layer, cur)
                if self.postgis and int(cur["srid"]):
                    return self._geojson_postgis(conn, layer, cur, bbox, limit, offset, scope)
                t = TABLES[layer]
                columns = cur["layers"][layer]["columns"]
                query = sa.select(*(t.c[c] for c in columns if c in SCHEMA[layer]), t.c.extra,
                                  sa.type_coerce(t.c.geom, sa.LargeBinary).label("geom"))
                rows, matched = self._page(conn, layer, cur, query, bbox, limit, offset, scope)
                props = [{c: r[c] if c in SCHEMA[layer] else (r["extra"] or {}).get(c) for c in columns}
                         for r in rows]
                geoms = shapely.from_wkb(np.array([r["geom"] for r in rows], dtype=object))
                return GeoJSONPage.of(geojson_features(props, geoms, cur["crs"] or None), matched)
            page = self._features_at(conn, layer, version, bbox, limit, offset, scope)
        return GeoJSONPage.of(frame_geojson(page.frame), page.matched)

    def _page(self, conn, layer: str, cur: dict, query, bbox, limit: int, offset: int, scope) -> tuple[list, int]:
        """Rows of ``query`` (a select from the layer's table) on one page of the newest ``layer``, in fid
        order, and how many rows match in all."""
        t = TABLES[layer]
        query = query.order_by(t.c.fid)
        areas = [self._query_area(conn, layer, cur, bbox)] if bbox is not None else []
        cond = sa.true()
        if scope is not None:
            if layer in scope.codes:
                col, allowed = scope.codes[layer]
                cond = t.c[col].in_(sorted(allowed)) if col in t.c and allowed else sa.false()
            else:
                areas.append(scope.area)
        if any(shapely.is_empty(a) for a in areas):
            return [], 0
        if not areas:
            matched = conn.execute(sa.select(sa.func.count()).select_from(t).where(cond)).scalar()
            rows = conn.execute(query.where(cond).limit(limit).offset(offset)).mappings().all()
        elif self.postgis:
            for area in areas:
                cond = sa.and_(cond, sa.func.ST_Intersects(t.c.geom, sa.func.ST_GeomFromEWKB(
                    sa.literal(shapely.to_wkb(shapely.set_srid(area, cur["srid"]), include_srid=True),
                               sa.LargeBinary))))
            matched = conn.execute(sa.select(sa.func.count()).select_from(t).where(cond)).scalar()
            rows = conn.execute(query.where(cond).limit(limit).offset(offset)).mappings().all()
        else:
            fids = None
            for area in areas:
                found = set(self._intersecting(conn, layer, area))
                fids = found if fids is None else fids & found
            if scope is not None and layer in scope.codes:
                fids &= set(conn.execute(sa.select(t.c.fid).where(cond)).scalars())
            fids = sorted(fids)
            matched, page = len(fids), fids[offset:offset + limit]
            rows = conn.execute(query.where(t.c.fid.in_(page))).mappings().all() if page else []
        return rows, int(matched)

    def _query_area(self, conn, layer: str, cur: dict, bbox):
        """:func:`near_area` of the WGS84 ``bbox`` and the newest ``layer``."""
        return near_area(bbox, self._extent(conn, layer, cur), cur["crs"] or None)

    def _features_at(self, conn, layer, version, bbox, limit, offset, scope) -> Page:
        """``features`` as of an older version: read the layer as it was, filter in shapely."""
        at = self._at(conn, version)
        if layer not in at["layers"]:
            raise NotFoundError(f"no layer {layer!r} in version {version} (it has: {', '.join(at['layers'])})")
        crs = pyproj.CRS.from_wkt(at["crs"]) if at["crs"] else None
        frame = self._layer_at(conn, layer, at, crs)
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

    def _geojson_postgis(self, conn, layer: str, cur: dict, bbox, limit: int, offset: int, scope) -> GeoJSONPage:
        """PostGIS writes the page's GeoJSON features (the text :func:`geojson_features` writes) and counts."""
        columns = cur["layers"][layer]["columns"]
        srid = int(cur["srid"])
        areas, codes = [self._query_area(conn, layer, cur, bbox)] if bbox is not None else [], None
        if scope is not None:
            if layer in scope.codes:
                codes = scope.codes[layer]
            else:
                areas.append(scope.area)
        if any(shapely.is_empty(a) for a in areas) or (codes is not None and (codes[0] not in TABLES[layer].c
                                                                             or not codes[1])):
            return GeoJSONPage("", 0, 0)
        where, params = _postgis_filters(layer, srid, areas, codes)
        # properties as text, key by key in the stored order (json_build_object takes at most 50 pairs)
        props = []
        for i, c in enumerate(columns):
            params[f"k{i}"] = ("{" if i == 0 else ",") + json.dumps(c, ensure_ascii=False) + ":"
            if c in SCHEMA[layer]:
                value = f"to_json(t.{_ident(c)})::text"
            else:
                params[f"c{i}"] = c
                value = f"(t.extra::jsonb -> cast(:c{i} as text))::text"
            props.append(f"cast(:k{i} as text) || coalesce({value}, 'null')")
        props = " || ".join(props) + " || '}'" if props else "'{}'"
        ident = "coalesce(',\"id\":' || to_json(t.code)::text, '')" if "code" in columns else "''"
        feature = (f"""'{{"type":"Feature","geometry":' || coalesce(st_asgeojson(st_transform(t.geom, 4326), """
                   f"""{DECIMALS}, 0), 'null') || ',"properties":' || {props} || {ident} || '}}'""")
        where = " and ".join(where) or "true"
        sql = (f"select (select count(*) from {_ident(layer)} t where {where}), count(*), "
               f"string_agg({feature}, ',' order by t.fid) "
               f"from (select * from {_ident(layer)} t where {where} order by t.fid limit :limit offset :offset) t")
        matched, returned, text = conn.execute(sa.text(sql), {**params, "limit": limit, "offset": offset}).one()
        return GeoJSONPage(text or "", int(matched), int(returned))

    def _intersecting(self, conn, layer: str, area) -> list[int]:
        """SQLite: fids of the features intersecting ``area`` (R*Tree or bbox columns, then shapely)."""
        t = TABLES[layer]
        minx, miny, maxx, maxy = shapely.bounds(area)
        if self.rtree:
            r = sa.table(f"{layer}_rtree", sa.column("id"), *(sa.column(c) for c in BBOX))
            near = (sa.select(t.c.fid, t.c.geom).join(r, r.c.id == t.c.fid)
                    .where(r.c.minx <= maxx, r.c.maxx >= minx, r.c.miny <= maxy, r.c.maxy >= miny))
        else:
            near = sa.select(t.c.fid, t.c.geom).where(t.c.minx <= maxx, t.c.maxx >= minx,
                                                      t.c.miny <= maxy, t.c.maxy >= miny)
        found = conn.execute(near).all()
        if not found:
            return []
        fids = np.array([f for f, _ in found])
        geoms = np.array([g for _, g in found], dtype=object)
        return sorted(fids[shapely.intersects(geoms, area)].tolist())

    def tile(self, layer: str, z: int, x: int, y: int, *, scope: Scope | None = None) -> bytes:
        """A Mapbox Vector Tile (WebMercatorQuad ``z/x/y``, y from the top) of the newest ``layer``:
        the features whose geometry intersects the tile's envelope (EPSG:3857), only those in
        ``scope`` if given, clipped to the envelope plus a buffer of :data:`TILE_BUFFER` units of
        :data:`TILE_EXTENT`; properties ``code``, ``name`` and the counts (``households``,
        ``residents``) the layer has; feature id: the stored ``fid``. ``b""`` when no feature is in it.

        PostGIS builds it (``ST_AsMVT``, ``ST_AsMVTGeom``, ``ST_TileEnvelope``; the GiST index finds
        the candidates); the embedded store finds them in its layer in memory (up to ``tile_cache``
        features; an STRtree) or with the R*Tree, and makes the tile with numpy (:mod:`api.mvt`).
        """
        check_tile(z, x, y)
        env = tile_envelope(z, x, y)
        with self._connect() as conn:
            cur = self._layer(conn, layer)
            t = TABLES[layer]
            props = [c for c in TILE_PROPERTIES if c in SCHEMA[layer]]
            codes = area = None
            if scope is not None:
                if layer in scope.codes:
                    codes = scope.codes[layer]
                    if codes[0] not in t.c or not codes[1]:
                        return b""
                else:
                    area = scope.area
            near = _near_tile(env, self._extent(conn, layer, cur))
            if near is None:
                return b""
            if self.postgis:
                return self._tile_postgis(conn, layer, props, (z, x, y), _search_bounds(near, cur["crs"]),
                                          int(cur["srid"]), codes, area)
            if cur["layers"][layer].get("count", 0) <= self.tile_cache:
                mem = self._tile_layer(conn, layer, cur)
                idx = np.sort(mem.tree.query(shapely.box(*env)))
                fid, web, cols = mem.fid[idx], mem.web[idx], {c: v[idx] for c, v in mem.columns.items()}
                geoms = mem.geom[idx] if area is not None else None
            else:
                fid, geoms, cols = self._tile_rows(conn, layer, props + ([codes[0]] if codes else []),
                                                   _search_bounds(near, cur["crs"]))
                web = None
        if not len(fid):
            return b""
        keep = np.ones(len(fid), bool)
        if codes is not None:
            keep &= pd.Index(cols[codes[0]]).isin(codes[1])
        if area is not None:
            keep &= np.asarray(shapely.intersects(geoms, area), bool)
        if web is None:
            web = _to_web(geoms[keep], cur["crs"])
        else:
            web = web[keep]
        return mvt.tile(layer, web, env, fid[keep].astype(np.uint64), {c: cols[c][keep] for c in props},
                        TILE_EXTENT, TILE_BUFFER)

    def _tile_rows(self, conn, layer: str, columns: list[str], search):
        """SQLite: fid, geometry (city CRS) and ``columns`` of the features whose bounds meet ``search``
        (bounds in the city's CRS; None: all), found with the R*Tree, in fid order."""
        t = TABLES[layer]
        query = sa.select(t.c.fid, *(t.c[c] for c in columns),
                          sa.type_coerce(t.c.geom, sa.LargeBinary).label("geom"))  # WKB, decoded in bulk
        if search is not None:
            minx, miny, maxx, maxy = search
            if self.rtree:
                r = sa.table(f"{layer}_rtree", sa.column("id"), *(sa.column(c) for c in BBOX))
                query = query.join(r, r.c.id == t.c.fid).where(r.c.minx <= maxx, r.c.maxx >= minx,
                                                               r.c.miny <= maxy, r.c.maxy >= miny)
            else:
                query = query.where(t.c.minx <= maxx, t.c.maxx >= minx, t.c.miny <= maxy, t.c.maxy >= miny)
        rows = conn.execute(query).all()
        cols = [np.array(c, dtype=object) for c in zip(*rows)] or [np.zeros(0, object)] * (len(columns) + 2)
        fid = cols[0].astype(np.int64)
        order = np.argsort(fid)  # sorted here: SQLite's ORDER BY costs more
        geoms = shapely.from_wkb(cols[-1][order])
        ok = ~shapely.is_missing(geoms)
        return fid[order][ok], geoms[ok], {c: v[order][ok] for c, v in zip(columns, cols[1:-1])}

    def _tile_layer(self, conn, layer: str, cur: dict) -> _TileLayer:
        """SQLite: ``layer`` of the newest version (the versions row ``cur``) in memory for tiles, made
        once per process and version the layer changed in (a proposal that moves grids leaves the
        buildings as they were)."""
        key = (layer, int(cur["layers"][layer].get("changed", cur["version"])))
        mem = self._tile_layers.get(key)
        if mem is None:
            with self._tile_lock:
                mem = self._tile_layers.get(key)
                if mem is None:
                    columns = [c for c in (*TILE_PROPERTIES, *SCOPE_COLUMNS) if c in SCHEMA[layer]]
                    fid, geoms, cols = self._tile_rows(conn, layer, columns, None)
                    web = _to_web(geoms, cur["crs"])
                    ok = np.isfinite(shapely.bounds(web)).all(axis=1)  # what projects (all, in a city's zone)
                    mem = _TileLayer(fid[ok], geoms[ok], web[ok], {c: v[ok] for c, v in cols.items()},
                                     shapely.STRtree(web[ok]))
                    self._tile_layers = {k: v for k, v in self._tile_layers.items() if k[0] != layer} | {key: mem}
        return mem

    def _tile_postgis(self, conn, layer, props, zxy, search, srid, codes, area) -> bytes:
        where, params = _postgis_filters(layer, srid, [] if area is None else [area], codes)
        where.insert(0, "st_intersects(st_transform(t.geom, 3857), e.env)")
        params.update({"z": zxy[0], "x": zxy[1], "y": zxy[2], "layer": layer, "extent": TILE_EXTENT,
                       "buffer": TILE_BUFFER})
        if search is not None:
            where.insert(0, "t.geom && st_makeenvelope(:minx, :miny, :maxx, :maxy, :srid)")
            params.update(zip(BBOX, search), srid=srid)
        cols = "".join(f"t.{_ident(c)}, " for c in props)
        sql = (f"with e as (select st_tileenvelope(:z, :x, :y) as env), "
               f"q as (select t.fid, {cols}st_asmvtgeom(st_transform(t.geom, 3857), e.env, :extent, :buffer, true) "
               f"as mvtgeom from {_ident(layer)} t, e where {' and '.join(where)}) "
               f"select st_asmvt(q, :layer, :extent, 'mvtgeom', 'fid') from q")
        data = conn.execute(sa.text(sql), params).scalar()
        return bytes(data) if data else b""

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
                frame = _frame(layer, rows, cur["layers"][layer]["columns"], pyproj.CRS.from_wkt(cur["crs"]))
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

    def _connect(self, write: bool = False):
        try:
            conn = self.engine.connect()
        except sa.exc.OperationalError as e:
            raise StoreError(f"cannot reach the database {_redacted(self.url)}: {_first_line(e)}") from None
        return conn.execution_options(sqlite_write=True) if write else conn

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


#: Half the width of the WebMercatorQuad world (EPSG:3857 metres).
WORLD = 20037508.342789244
#: Tile coordinates per side of a vector tile, and the buffer around it (in those units).
TILE_EXTENT, TILE_BUFFER = 4096, 64
MAX_ZOOM = 24
#: Properties of a vector tile's features (those of them the layer has).
TILE_PROPERTIES = ("code", "name", "households", "residents")
#: Columns a street's scope selects units by (:class:`Scope`).
SCOPE_COLUMNS = ("code", "street_code", "community_code")
#: Largest layer the embedded store keeps in memory for tiles (features; ~2 KB each).
TILE_CACHE_FEATURES = 500_000


@dataclass(frozen=True)
class _TileLayer:
    """A layer in memory for tiles: fids (sorted), geometries in the city's CRS and in EPSG:3857, the
    tile and scope columns, and an STRtree of the EPSG:3857 geometries."""

    fid: np.ndarray
    geom: np.ndarray
    web: np.ndarray
    columns: dict
    tree: shapely.STRtree


def check_tile(z: int, x: int, y: int) -> None:
    """InvalidParameterError unless ``z/x/y`` is a tile of WebMercatorQuad (zoom 0–24).

    >>> check_tile(1, 1, 1)
    >>> try:
    ...     check_tile(1, 2, 0)
    ... except WanggeError as e:
    ...     print(e)
    tile 1/2/0: at zoom 1, x and y are 0–1
    """
    from api.errors import InvalidParameterError

    if not 0 <= z <= MAX_ZOOM:
        raise InvalidParameterError(f"tile {z}/{x}/{y}: the zoom is 0–{MAX_ZOOM}")
    if not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise InvalidParameterError(f"tile {z}/{x}/{y}: at zoom {z}, x and y are 0–{2 ** z - 1}")


def tile_envelope(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Bounds (EPSG:3857) of the WebMercatorQuad tile ``z/x/y`` (as PostGIS ``ST_TileEnvelope``).

    >>> tile_envelope(1, 0, 0) == (-WORLD, 0.0, 0.0, WORLD)
    True
    """
    size = 2 * WORLD / 2 ** z
    minx, maxy = -WORLD + x * size, WORLD - y * size
    return minx, maxy - size, minx + size, maxy


_transformers: dict[tuple[str, str], pyproj.Transformer] = {}
_transformers_lock = threading.Lock()


def _transformer(a: str, b: str) -> pyproj.Transformer:
    """A transformer (x/y in lon/lat order) from CRS ``a`` to ``b`` (WKT or names), made once per process.

    pyproj remakes a transformer in each thread that uses it: from two CRSs that is a search of the
    PROJ database (0.1–0.2 s), from a PROJ pipeline well under a millisecond. So the transformer is
    remade from its pipeline, unless PROJ has several candidates (datum shifts chosen per point).
    """
    tr = _transformers.get((a, b))
    if tr is None:
        with _transformers_lock:
            tr = _transformers.get((a, b))
            if tr is None:
                tr = pyproj.Transformer.from_crs(a, b, always_xy=True)
                if tr.definition.startswith("proj="):
                    tr = pyproj.Transformer.from_pipeline(tr.definition)
                _transformers[(a, b)] = tr
    return tr


def _to_web(geoms: np.ndarray, crs: str) -> np.ndarray:
    """Geometries in CRS ``crs`` (WKT) in EPSG:3857."""
    to_web = _transformer(crs, "EPSG:3857")
    return shapely.transform(geoms, lambda xy: np.column_stack(to_web.transform(xy[:, 0], xy[:, 1])))


def _projected_box(bounds, a: str, b: str, parts: int = 20):
    """The box ``bounds`` (minx, miny, maxx, maxy) in CRS ``a`` as a geometry in CRS ``b``, its edges
    cut in ``parts`` so that it follows their curves there (a point or a line for a flat box); None
    when part of it does not project to ``b``.

    >>> _projected_box((115.85, 28.68, 115.87, 28.70), "EPSG:4326", "EPSG:4548").geom_type
    'Polygon'
    >>> _projected_box((115.85, 28.68, 115.85, 28.68), "EPSG:4326", "EPSG:4548").geom_type
    'Point'
    >>> _projected_box((1e9, 1e9, 2e9, 2e9), "EPSG:4548", "EPSG:4326") is None  # far off the Earth
    True
    """
    minx, miny, maxx, maxy = bounds
    size = max(maxx - minx, maxy - miny)
    if maxx > minx and maxy > miny:
        box = shapely.box(minx, miny, maxx, maxy)
    else:
        box = shapely.LineString([(minx, miny), (maxx, maxy)]) if size > 0 else shapely.Point(minx, miny)
    if size > 0:
        box = shapely.segmentize(box, max_segment_length=size / parts)
    xy = shapely.get_coordinates(box)
    x, y = _transformer(a, b).transform(xy[:, 0], xy[:, 1])
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    return shapely.set_coordinates(box, np.column_stack([x, y]))


def _near_tile(env, extent):
    """The part of the EPSG:3857 box ``env`` near ``extent`` (the WGS84 bounds of a layer; None: it has
    no geometry), or None when no part is: only there can the layer's features be, and only there
    does the layer's CRS project well (a whole-world tile comes out of a Gauss–Krüger zone as a tangle).

    >>> _near_tile(tile_envelope(0, 0, 0), (115.8, 28.6, 115.9, 28.7))  # doctest: +ELLIPSIS
    (12890...)
    >>> _near_tile(tile_envelope(1, 0, 0), (115.8, 28.6, 115.9, 28.7)) is None
    True
    """
    if extent is None:
        return None
    lat = np.clip([extent[1], extent[3]], -85.06, 85.06)
    x, y = _transformer("EPSG:4326", "EPSG:3857").transform([extent[0], extent[2]], lat)
    dx, dy = (x[1] - x[0]) * 0.01 + 1, (y[1] - y[0]) * 0.01 + 1
    near = max(env[0], x[0] - dx), max(env[1], y[0] - dy), min(env[2], x[1] + dx), min(env[3], y[1] + dy)
    return near if near[0] <= near[2] and near[1] <= near[3] else None


def _search_bounds(env, crs: str):
    """Bounds in ``crs`` (WKT) covering the EPSG:3857 box ``env`` (with a margin), for an index; None when
    it cannot be projected there: search everything."""
    box = _projected_box(env, "EPSG:3857", crs)
    if box is None:
        return None
    b = shapely.bounds(box)
    dx, dy = (b[2] - b[0]) * 0.01, (b[3] - b[1]) * 0.01
    return b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy


def _postgis_filters(layer: str, srid: int, areas: list, codes) -> tuple[list[str], dict]:
    """SQL conditions (on the layer's table as ``t``) and their parameters: the geometry intersects each
    of ``areas`` (polygons in the city's CRS, SRID ``srid``); the column ``codes[0]`` is one of the
    values ``codes[1]`` (when ``codes`` is given)."""
    where, params = [], {}
    for i, area in enumerate(areas):
        where.append(f"st_intersects(t.geom, st_geomfromewkb(:area{i}))")
        params[f"area{i}"] = shapely.to_wkb(shapely.set_srid(area, srid), include_srid=True)
    if codes is not None:
        where.append(f"t.{_ident(codes[0])} = any(:codes)")
        params["codes"] = sorted(codes[1])
    return where, params


def frame_geojson(frame: gpd.GeoDataFrame) -> list[str]:
    """:func:`geojson_features` of the rows of a layer's frame (its columns are the properties)."""
    props = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    records = props.astype(object).where(props.notna(), None).to_dict("records")
    return geojson_features(records, frame.geometry.values, frame.crs.to_wkt() if frame.crs is not None else None)


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"not an identifier: {name!r}")
    return f'"{name}"'


def query_area(bbox, crs: str | None):
    """The WGS84 ``bbox`` (minx, miny, maxx, maxy) as a densified polygon in ``crs`` (WKT; None: the
    city has no CRS, the box is taken as it is); None when part of it does not project there.

    >>> area = query_area((115.85, 28.68, 115.87, 28.70), "EPSG:4548")
    >>> len(shapely.get_coordinates(area)) > 5
    True
    """
    return _projected_box(bbox, "EPSG:4326", crs) if crs else shapely.box(*bbox)


def wgs84_bounds(bounds, crs: str | None):
    """The WGS84 bounds of the box ``bounds`` in ``crs`` (WKT; None: the box as it is), or None when it
    does not project."""
    box = _projected_box(bounds, crs, "EPSG:4326") if crs else shapely.box(*bounds)
    return None if box is None else tuple(float(v) for v in shapely.bounds(box))


def near_area(bbox, extent, crs: str | None):
    """The part of the WGS84 ``bbox`` near ``extent`` (the WGS84 bounds of some features; None: they
    have no geometry) as a polygon in ``crs`` (:func:`query_area`); an empty polygon when no part is.

    Only the part near the features can meet them, and only there does their CRS project well: a box
    around the world comes out of a Gauss–Krüger zone as a tangle.

    >>> world = near_area((-180, -90, 180, 90), (115.8, 28.6, 115.9, 28.7), "EPSG:4548")
    >>> world.contains(query_area((115.8, 28.6, 115.9, 28.7), "EPSG:4548"))
    True
    >>> near_area((0, 0, 1, 1), (115.8, 28.6, 115.9, 28.7), "EPSG:4548").is_empty
    True
    """
    if extent is None:
        return shapely.Polygon()
    dx, dy = (extent[2] - extent[0]) * 0.01 + 1e-6, (extent[3] - extent[1]) * 0.01 + 1e-6
    near = (max(bbox[0], extent[0] - dx), max(bbox[1], extent[1] - dy),
            min(bbox[2], extent[2] + dx), min(bbox[3], extent[3] + dy))
    if near[0] > near[2] or near[1] > near[3]:
        return shapely.Polygon()
    area = query_area(near, crs)
    return shapely.Polygon() if area is None else area


#: Decimal places of the GeoJSON coordinates (WGS84 degrees): 1e-9° is about 0.1 mm.
DECIMALS = 9


def geojson_features(properties: list[dict], geometries, crs: str | None) -> list[str]:
    """GeoJSON Feature texts (UTF-8 text, WGS84 coordinates rounded to :data:`DECIMALS` places) of
    features with these ``properties`` and ``geometries`` (in ``crs``, WKT; None: taken as they are);
    a feature's ``id`` is its ``code`` property when it has one.

    >>> geojson_features([{"code": "G1", "name": "第1网格"}], [shapely.Point(500000, 3000000)], "EPSG:4548")
    ['{"type":"Feature","geometry":{"type":"Point","coordinates":[117.0,27.111635508]},"properties":{"code":"G1","name":"第1网格"},"id":"G1"}']
    """
    geoms = np.asarray(geometries, dtype=object)
    to_wgs = _transformer(crs, "EPSG:4326") if crs else None

    def wgs84(*xyz):
        return tuple(np.round(c, DECIMALS) for c in (to_wgs.transform(*xyz) if to_wgs else xyz))

    texts = shapely.to_geojson(shapely.transform(geoms, wgs84, include_z=None, interleaved=False))
    out = []
    for props, geometry in zip(properties, texts):
        code = props.get("code")
        out.append('{"type":"Feature","geometry":' + (geometry or "null") + ',"properties":'
                   + json.dumps(props, ensure_ascii=False, separators=(",", ":"), default=json_value)
                   + ("" if code is None else ',"id":' + json.dumps(code, ensure_ascii=False)) + "}")
    return out


def json_value(v):
    """``json.dumps``'s ``default``: numpy scalars as Python numbers, dates and times in ISO 8601."""
    if isinstance(v, np.generic):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    raise TypeError(f"{type(v).__name__} is not JSON")


def _eroded(area, crs, metres: float = 1.0):
    """``area`` shrunk by ``metres`` (measured in a projected CRS when ``crs`` is geographic)."""
    if crs is None or crs.is_projected:
        return shapely.buffer(area, -metres)
    from gis.model import metric_crs

    lonlat = crs.equals(pyproj.CRS(4326))
    to_wgs = None if lonlat else pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    bounds = shapely.bounds(area) if lonlat else to_wgs.transform_bounds(*shapely.bounds(area))
    metric = metric_crs(bounds)
    there = pyproj.Transformer.from_crs(crs, metric, always_xy=True)
    back = pyproj.Transformer.from_crs(metric, crs, always_xy=True)
    shrunk = shapely.buffer(shapely.transform(area, lambda xy: np.column_stack(there.transform(xy[:, 0], xy[:, 1]))),
                            -metres)
    return shapely.transform(shrunk, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def _first_line(e: Exception) -> str:
    text = str(getattr(e, "orig", None) or e).strip()
    return text.splitlines()[0] if text else type(e).__name__


#: Most of an embedded store's file that SQLite reads through a memory map.
MMAP_BYTES = 1 << 30


def _sqlite_transactions(engine, wal: bool) -> None:
    """Real transactions on SQLite: BEGIN (IMMEDIATE for writers) instead of pysqlite's implicit ones."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        if wal:
            dbapi_connection.execute("pragma journal_mode=wal")
            # readers share the file's pages through the OS (memory-mapped) instead of each connection
            # copying them into a cache of its own
            dbapi_connection.execute(f"pragma mmap_size={MMAP_BYTES}")
        dbapi_connection.execute("pragma busy_timeout=30000")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("begin immediate" if conn.get_execution_options().get("sqlite_write") else "begin")


def _layer_meta(gdf: gpd.GeoDataFrame, version: int) -> dict:
    """What a versions row records of one layer: its columns, its count and the version it last changed in."""
    return {"columns": [c for c in gdf.columns if c != gdf.geometry.name], "count": len(gdf), "changed": version}


def _native(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _rows(name: str, gdf: gpd.GeoDataFrame, srid: int | None) -> list[dict]:
    """Row dicts of one layer: standard columns typed, other columns as JSON, bbox, geometry."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    geoms = np.where(shapely.is_missing(geoms), None, geoms)
    bounds = shapely.bounds(geoms)
    if srid is not None:
        geoms = shapely.set_srid(geoms, srid)
    standard = [c for c in SCHEMA[name] if c in gdf.columns]
    extras = [c for c in gdf.columns if c not in SCHEMA[name] and c != gdf.geometry.name]
    extra = (json.loads(pd.DataFrame(gdf[extras]).to_json(orient="records", force_ascii=False, date_format="iso"))
             if extras else [None] * len(gdf))
    records = pd.DataFrame(gdf[standard]).astype(object).to_dict("records")
    out = []
    for i, rec in enumerate(records):
        row = {k: _native(v) for k, v in rec.items()}
        row.update(fid=i + 1, extra=extra[i], geom=geoms[i],
                   **{k: (None if np.isnan(b) else float(b)) for k, b in zip(BBOX, bounds[i])})
        out.append(row)
    return out


def _frame(name: str, rows, columns: list[str], crs) -> gpd.GeoDataFrame:
    """A layer's GeoDataFrame from stored rows: its columns in their order, standard dtypes."""
    extra = pd.DataFrame([r["extra"] or {} for r in rows], index=range(len(rows)))
    data = {}
    for col in columns:
        kind = SCHEMA[name].get(col)
        if kind is None:
            data[col] = extra[col] if col in extra else pd.Series([None] * len(rows), dtype=object)
            continue
        values = pd.Series([r[col] for r in rows], dtype=object)
        if kind == "int":
            data[col] = values.astype("int64") if values.notna().all() else values.astype("Int64")
        elif kind == "float":
            data[col] = pd.to_numeric(values, errors="coerce").astype(float)
        elif kind == "bool":
            data[col] = values.astype(bool) if values.notna().all() else values.astype("boolean")
        else:
            data[col] = values
    geometry = gpd.GeoSeries(np.array([r["geom"] for r in rows], dtype=object), crs=crs)
    return gpd.GeoDataFrame(pd.DataFrame(data, index=range(len(rows))), geometry=geometry.values, crs=crs)

"""The store in PostGIS: spatial filters, GeoJSON and vector tiles written by the database.

``geom`` is a PostGIS geometry with the SRID of the city's CRS and a GiST index; a page of features
intersecting an area is ``ST_Intersects`` in SQL, its GeoJSON ``ST_AsGeoJSON`` (the same text the
embedded store writes), a vector tile ``ST_AsMVT``. Writers of versions lock the ``versions`` table;
readers of several tables read in one repeatable-read snapshot.

Examples
--------
>>> PostGIS.name, PostGIS("postgresql+psycopg://localhost/none").row_srid(4548)
('postgresql', 4548)
"""

from __future__ import annotations

import json

import shapely
import sqlalchemy as sa

from api.models import TABLES
from api.store.backend import Backend
from api.store.geojson import DECIMALS, GeoJSONPage
from api.store.rows import BBOX
from api.store.tiles import TILE_BUFFER, TILE_EXTENT, TILE_PROPERTIES, search_bounds
from gis.model import SCHEMA


class PostGIS(Backend):
    """The PostGIS database ``url`` names (``postgresql+psycopg://user:password@host:port/db``, with the
    ``postgis`` extension created)."""

    name = "postgresql"
    setup_hint = " (is the postgis extension created? create extension postgis)"

    def __init__(self, url: str):
        super().__init__(sa.create_engine(url, pool_pre_ping=True))

    def serialise_migration(self, conn) -> None:
        """Two processes opening a new database: one migrates, the other waits here."""
        conn.execute(sa.text("select pg_advisory_xact_lock(hashtext('wangge-migrate'))"))

    def lock_versions(self, conn) -> None:
        conn.execute(sa.text("lock table versions in exclusive mode"))

    def repeatable_read(self, conn) -> None:
        conn.execute(sa.text("set transaction isolation level repeatable read"))

    def row_srid(self, srid: int) -> int:
        return srid

    def page(self, conn, layer, query, where, areas, srid, limit, offset):
        """:meth:`Backend.page` in SQL: ``ST_Intersects`` with each area."""
        t = TABLES[layer]
        meets = [sa.func.ST_Intersects(t.c.geom, sa.func.ST_GeomFromEWKB(sa.literal(
            shapely.to_wkb(shapely.set_srid(area, srid), include_srid=True), sa.LargeBinary))) for area in areas]
        return self.counted(conn, layer, query, [*where, *meets], limit, offset)

    def geojson(self, conn, layer, columns, srid, areas, codes, limit, offset) -> GeoJSONPage | None:
        """:meth:`Backend.geojson`: the features written by PostGIS (``ST_AsGeoJSON``, ``ST_Transform``,
        ``to_json``) into one text; None when the city's CRS has no EPSG code (``srid`` 0)."""
        if not srid:
            return None
        where, params = _filters(srid, areas, codes)
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

    def tile(self, conn, layer, cur, zxy, near, codes, area) -> bytes:
        """:meth:`Backend.tile` by PostGIS (``ST_AsMVT``, ``ST_AsMVTGeom``, ``ST_TileEnvelope``; the GiST
        index finds the candidates)."""
        srid = int(cur["srid"])
        search = search_bounds(near, cur["crs"])
        props = [c for c in TILE_PROPERTIES if c in SCHEMA[layer]]
        where, params = _filters(srid, [] if area is None else [area], codes)
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


def _filters(srid: int, areas: list, codes) -> tuple[list[str], dict]:
    """SQL conditions (on a layer's table as ``t``) and their parameters: the geometry intersects each
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


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"not an identifier: {name!r}")
    return f'"{name}"'

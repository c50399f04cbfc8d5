"""The embedded store: SQLite, with no server and no SpatiaLite.

Geometry is WKB in a BLOB with bounding-box columns; an R*Tree (``<layer>_rtree``, kept in step by
triggers) narrows a spatial query to the features whose boxes meet it, and shapely decides. Writers
begin with ``BEGIN IMMEDIATE`` (one at a time; readers go on, in WAL mode). Vector tiles of a layer of
up to ``tile_cache`` features are made from the layer held in memory (in EPSG:3857, with an STRtree),
made again in each process only when the layer changes; a larger layer is read for each tile.

Examples
--------
>>> backend = SQLite(sa.engine.make_url("sqlite://"))
>>> with backend.engine.connect() as conn:
...     conn.exec_driver_sql("select 1").scalar()
1
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from api import mvt
from api.models import TABLES
from api.store.backend import Backend
from api.store.rows import BBOX
from api.store.tiles import (SCOPE_COLUMNS, TILE_BUFFER, TILE_EXTENT, TILE_PROPERTIES, HeldLayer, search_bounds,
                             tile_envelope, to_web)
from gis.model import SCHEMA

#: Most of an embedded store's file that SQLite reads through a memory map.
MMAP_BYTES = 1 << 30


class SQLite(Backend):
    """The embedded store in the SQLite file ``url`` names (in memory for ``sqlite://``).

    Parameters
    ----------
    url : sqlalchemy.engine.URL
        ``sqlite:///path`` (the folder is made) or ``sqlite://``.
    tile_cache : int, default 0
        Layers of up to this many features are held in memory for vector tiles.
    """

    name = "sqlite"

    def __init__(self, url: sa.engine.URL, *, tile_cache: int = 0):
        memory = url.database in (None, "", ":memory:")
        if not memory:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, poolclass=StaticPool if memory else None,
                                  connect_args={"check_same_thread": False, "timeout": 30})
        _transactions(engine, wal=not memory)
        super().__init__(engine)
        self.tile_cache = tile_cache
        self.held: dict[tuple[str, int], HeldLayer] = {}
        self._held_lock = threading.Lock()

    @cached_property
    def rtree(self) -> bool:
        """Whether the layers have their R*Trees (asked once the schema is migrated)."""
        return sa.inspect(self.engine).has_table("grids_rtree")

    def page(self, conn, layer, query, where, areas, srid, limit, offset):
        """:meth:`Backend.page`: the fids intersecting every area (:meth:`_intersecting`) and meeting
        ``where``, then the rows of the page."""
        if not areas:
            return self.counted(conn, layer, query, where, limit, offset)
        t = TABLES[layer]
        fids = None
        for area in areas:
            found = set(self._intersecting(conn, layer, area))
            fids = found if fids is None else fids & found
        if where:
            fids &= set(conn.execute(sa.select(t.c.fid).where(*where)).scalars())
        fids = sorted(fids)
        matched, page = len(fids), fids[offset:offset + limit]
        rows = conn.execute(query.where(t.c.fid.in_(page))).mappings().all() if page else []
        return rows, matched

    def _near(self, query, layer: str, bounds):
        """``query`` (a select from the layer's table) limited to the rows whose boxes meet ``bounds``
        (minx, miny, maxx, maxy in the city's CRS): through the R*Tree, or the box columns."""
        t = TABLES[layer]
        minx, miny, maxx, maxy = bounds
        box = t
        if self.rtree:
            box = sa.table(f"{layer}_rtree", sa.column("id"), *(sa.column(c) for c in BBOX))
            query = query.join(box, box.c.id == t.c.fid)
        return query.where(box.c.minx <= maxx, box.c.maxx >= minx, box.c.miny <= maxy, box.c.maxy >= miny)

    def _intersecting(self, conn, layer: str, area) -> list[int]:
        """Fids of the features intersecting ``area`` (index or box columns, then shapely)."""
        t = TABLES[layer]
        found = conn.execute(self._near(sa.select(t.c.fid, t.c.geom), layer, shapely.bounds(area))).all()
        if not found:
            return []
        fids = np.array([f for f, _ in found])
        geoms = np.array([g for _, g in found], dtype=object)
        return sorted(fids[shapely.intersects(geoms, area)].tolist())

    def tile(self, conn, layer, cur, zxy, near, codes, area):
        """:meth:`Backend.tile`: from the layer held in memory (up to ``tile_cache`` features; an
        STRtree) or read through the R*Tree, made with numpy (:mod:`api.mvt`)."""
        env = tile_envelope(*zxy)
        props = [c for c in TILE_PROPERTIES if c in SCHEMA[layer]]
        if cur["layers"][layer].get("count", 0) <= self.tile_cache:
            mem = self._held(conn, layer, cur)
            idx = np.sort(mem.tree.query(shapely.box(*env)))
            fid, web, cols = mem.fid[idx], mem.web[idx], {c: v[idx] for c, v in mem.columns.items()}
            geoms = mem.geom[idx] if area is not None else None
        else:
            fid, geoms, cols = self._tile_rows(conn, layer, props + ([codes[0]] if codes else []),
                                               search_bounds(near, cur["crs"]))
            web = None
        if not len(fid):
            return b""
        keep = np.ones(len(fid), bool)
        if codes is not None:
            keep &= pd.Index(cols[codes[0]]).isin(codes[1])
        if area is not None:
            keep &= np.asarray(shapely.intersects(geoms, area), bool)
        web = to_web(geoms[keep], cur["crs"]) if web is None else web[keep]
        return mvt.tile(layer, web, env, fid[keep].astype(np.uint64), {c: cols[c][keep] for c in props},
                        TILE_EXTENT, TILE_BUFFER)

    def _tile_rows(self, conn, layer: str, columns: list[str], search):
        """Fid, geometry (city CRS) and ``columns`` of the features whose bounds meet ``search``
        (bounds in the city's CRS; None: all), in fid order."""
        t = TABLES[layer]
        query = sa.select(t.c.fid, *(t.c[c] for c in columns),
                          sa.type_coerce(t.c.geom, sa.LargeBinary).label("geom"))  # WKB, decoded in bulk
        if search is not None:
            query = self._near(query, layer, search)
        rows = conn.execute(query).all()
        cols = [np.array(c, dtype=object) for c in zip(*rows)] or [np.zeros(0, object)] * (len(columns) + 2)
        fid = cols[0].astype(np.int64)
        order = np.argsort(fid)  # sorted here: SQLite's ORDER BY costs more
        geoms = shapely.from_wkb(cols[-1][order])
        ok = ~shapely.is_missing(geoms)
        return fid[order][ok], geoms[ok], {c: v[order][ok] for c, v in zip(columns, cols[1:-1])}

    def _held(self, conn, layer: str, cur: dict) -> HeldLayer:
        """``layer`` of the newest version (the versions row ``cur``) in memory for tiles, made once per
        process and version the layer changed in (a proposal that moves grids leaves the buildings as
        they were)."""
        key = (layer, int(cur["layers"][layer].get("changed", cur["version"])))
        mem = self.held.get(key)
        if mem is None:
            with self._held_lock:
                mem = self.held.get(key)
                if mem is None:
                    columns = [c for c in (*TILE_PROPERTIES, *SCOPE_COLUMNS) if c in SCHEMA[layer]]
                    fid, geoms, cols = self._tile_rows(conn, layer, columns, None)
                    web = to_web(geoms, cur["crs"])
                    ok = np.isfinite(shapely.bounds(web)).all(axis=1)  # what projects (all, in a city's zone)
                    mem = HeldLayer(fid[ok], geoms[ok], web[ok], {c: v[ok] for c, v in cols.items()},
                                    shapely.STRtree(web[ok]))
                    self.held = {k: v for k, v in self.held.items() if k[0] != layer} | {key: mem}
        return mem


def _transactions(engine, wal: bool) -> None:
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

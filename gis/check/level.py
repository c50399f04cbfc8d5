"""One level of units prepared for checking: repaired polygons, a spatial index and labels.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> g = gpd.GeoDataFrame({"code": ["A", "B"], "name": ["甲", None]},
...                      geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=3857)
>>> lv = Level.of(g, "grids")
>>> lv.label(0), lv.label(1)
('网格 甲(A)', '网格 B')
"""

from __future__ import annotations

from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import shapely

from gis.model import LABELS


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """The polygonal part of each geometry (lines and points dropped; empty where none)."""
    geoms = np.asarray(geoms, dtype=object)
    out = geoms.copy()
    mixed = ~np.isin(shapely.get_type_id(geoms), (3, 6))  # not Polygon / MultiPolygon
    for i in np.flatnonzero(mixed):  # only collections from overlay or make_valid: few
        parts = shapely.get_parts(geoms[i])
        parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        out[i] = shapely.union_all(parts) if len(parts) else shapely.Polygon()
    return out


def chunked(fn, *arrays: np.ndarray, parts: int = 2) -> np.ndarray:
    """``fn`` over aligned arrays split in ``parts`` threads (GEOS releases the GIL), concatenated.

    >>> chunked(shapely.area, np.array([shapely.box(0, 0, 1, 1), shapely.box(0, 0, 2, 2), shapely.Point()])).tolist()
    [1.0, 4.0, 0.0]
    """
    if len(arrays[0]) < 1000:
        return fn(*arrays)
    with ThreadPoolExecutor(parts) as pool:
        return np.concatenate(list(pool.map(fn, *(np.array_split(a, parts) for a in arrays))))


def mean_width(geoms) -> np.ndarray:
    """Mean width 2·A/P of polygons: about the width of a thin strip (0 for empty)."""
    length = shapely.length(geoms)
    return np.divide(2 * shapely.area(geoms), length, out=np.zeros(len(length)), where=length > 0)


@dataclass(eq=False)
class Level:
    """A unit layer ready for the checks (metric CRS)."""

    name: str
    units: gpd.GeoDataFrame
    geoms: np.ndarray          # valid polygonal geometries (invalid ones repaired)
    valid: np.ndarray          # bool: was the source geometry valid
    codes: np.ndarray
    tree: shapely.STRtree
    _edges: Future | None = None

    @classmethod
    def of(cls, units: gpd.GeoDataFrame, name: str, pool: Executor | None = None) -> "Level":
        """Repair invalid geometries, index them; with a ``pool``, start the coverage validation
        in the background (GEOS runs it without the GIL)."""
        raw = np.asarray(units.geometry.values)
        valid = chunked(shapely.is_valid, raw)
        geoms = raw.copy()
        if not valid.all():
            geoms[~valid] = polygonal(shapely.make_valid(raw[~valid], method="structure", keep_collapsed=False))
        codes = units["code"].astype(object).to_numpy()
        edges = pool.submit(shapely.coverage_invalid_edges, geoms) if pool is not None else None
        return cls(name, units, geoms, valid, codes, shapely.STRtree(geoms), edges)

    def label(self, i: int) -> str:
        """'网格 第2网格(360102001003-02)': unit ``i`` for messages."""
        name = self.units["name"].iloc[i] if "name" in self.units else None
        kind = LABELS.get(self.name, self.name)
        return f"{kind} {name}({self.codes[i]})" if isinstance(name, str) and name else f"{kind} {self.codes[i]}"

    @cached_property
    def invalid_edges(self) -> np.ndarray:
        """Edges of each unit that break the coverage (GEOS coverage validation; empty where none)."""
        return self._edges.result() if self._edges is not None else shapely.coverage_invalid_edges(self.geoms)

    @cached_property
    def is_coverage(self) -> bool:
        """True when the units form a valid coverage: no overlaps, every shared edge matched."""
        return bool(shapely.is_empty(self.invalid_edges).all())

    @cached_property
    def union(self) -> shapely.Geometry:
        """The union of the units: the fast coverage union of the units whose edges are all valid,
        then an ordinary union with the few others."""
        clean = shapely.is_empty(self.invalid_edges)
        union = shapely.coverage_union_all(self.geoms[clean])
        return union if clean.all() else shapely.union_all(np.r_[[union], self.geoms[~clean]])

    def owner(self, points) -> np.ndarray:
        """Index of the unit containing each point (-1 where none; the first where several)."""
        g, u = self.tree.query(points, predicate="intersects")
        out = np.full(len(points), -1)
        out[g[::-1]] = u[::-1]  # first hit wins
        return out

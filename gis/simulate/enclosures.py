"""Atoms of the finest level cut along real lines: the units' land split by roads, rivers, railways.

Grids are the finest units, so there is nothing below them to redraw them from. Their atoms are
*enclosures*: each grid's land divided by every road and barrier line that crosses it, the method of
momepy's ``enclosures`` (Fleischmann et al. 2021, "Methodological foundation of a numerical taxonomy
of urban form"): polygonize the noded union of the lines and the units' boundaries, keep the pieces
inside a unit. A new grid line can then only run along a road, river or railway, or along an
existing line. (momepy itself is not imported: its import pulls libpysal and takes seconds, for
what is one ``shapely.polygonize`` here.)

Cutting a line at a unit's boundary adds a vertex there. A new line that ends on the boundary of a
unit the plan does not redraw therefore needs that vertex in the neighbour too, or the neighbours'
edges no longer match (a T-junction: GEOS's coverage validation reports it).
``gis.noding.node_neighbours`` inserts such vertices into the neighbours; the shape and area of a
neighbour never change.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, box
>>> units = gpd.GeoDataFrame({"code": ["G1"]}, geometry=[box(0, 0, 100, 50)], crs=3857)
>>> road = [LineString([(40, -10), (40, 60)]), LineString([(70, 20), (70, 30)])]  # the 2nd dead-ends
>>> e = enclosures(units, road)
>>> e["code"].tolist(), e.area.round().tolist()
(['G1/1', 'G1/2'], [2000.0, 3000.0])
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely


def enclosures(units: gpd.GeoDataFrame, lines) -> gpd.GeoDataFrame:
    """The pieces of ``units`` (a polygonal coverage with ``code``) cut by ``lines`` (line or polygon
    geometries; a polygon cuts along its boundary). Lines that end inside a unit (dead ends) cut
    nothing. Returns ``code`` (``UNIT/n``, numbered west to east within a unit), ``unit`` and the
    geometry, in the units' CRS; a unit no line crosses is one piece, its own geometry unchanged."""
    geoms = np.asarray(units.geometry.values)
    lines = np.asarray([g for g in lines if g is not None and not g.is_empty], dtype=object)
    lines = np.where(shapely.get_dimensions(lines) == 2, shapely.boundary(lines), lines) if len(lines) else lines
    tree = shapely.STRtree(geoms)
    li, ui = tree.query(lines, predicate="intersects") if len(lines) else (np.zeros(0, int), np.zeros(0, int))
    cut = np.zeros(len(geoms), bool)
    cut[ui] = True
    rows = []
    for u in np.flatnonzero(~cut):
        rows.append((u, geoms[u]))
    if cut.any():
        inside = shapely.intersection(lines[li], geoms[ui])
        edges = shapely.union_all(np.r_[shapely.boundary(geoms[cut]), inside])  # noded
        pieces = shapely.get_parts(shapely.polygonize(shapely.get_parts(edges)))
        pi, owner = shapely.STRtree(geoms[cut]).query(shapely.point_on_surface(pieces), predicate="within")
        for p, o in zip(pi, np.flatnonzero(cut)[owner]):
            rows.append((o, pieces[p]))
    unit = np.array([r[0] for r in rows], np.int64)
    shape = np.array([r[1] for r in rows], dtype=object)
    x = shapely.get_x(shapely.centroid(shape))
    order = np.lexsort((x, unit))
    unit, shape = unit[order], shape[order]
    n = np.r_[0, np.cumsum(unit[1:] != unit[:-1])]
    first = np.r_[0, np.flatnonzero(unit[1:] != unit[:-1]) + 1]
    rank = np.arange(len(unit)) - first[n] + 1
    codes = units["code"].to_numpy(object)
    return gpd.GeoDataFrame({"code": [f"{codes[u]}/{r}" for u, r in zip(unit, rank)], "unit": codes[unit]},
                            geometry=list(shape), crs=units.crs)


__all__ = ["enclosures"]

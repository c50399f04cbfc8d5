"""An estate (小区) moved between grids: its land, as an area to draw (:func:`estate_area`).

Examples
--------
>>> from gis import read_city
>>> from gis.edit import draw, in_street
>>> city = read_city("data/sample.gpkg")
>>> units = city["grids"][in_street(city, "grids", "360102001000")][["code", "name", "geometry"]]
>>> area, along = estate_area(city, units, "明珠家园", "360102001009-01", "360102001009-02")
>>> new, info = draw(city, "360102001000", "grids", units, area, "360102001009-02")
>>> [t["code"] for t in info["taken"]]
['360102001009-01']
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gis.check.level import polygonal
from gis.edit.draw import DRAW_SNAP_M, PIECE_M2
from gis.edit.units import containing
from gis.errors import EditError
from gis.model import City

#: An estate's land: the convex hull of its buildings, buffered by this (m).
ESTATE_M = 5.0
#: An estate this close to the grid that takes it (m: about a road's width) takes the land between
#: them too; one farther away is refused (draw the area instead).
ESTATE_REACH_M = 30.0


def estate_area(city: City, units: gpd.GeoDataFrame, estate: str, grid: str, to: str
                ) -> tuple[shapely.Geometry, list[str]]:
    """The land of ``estate`` (小区) in grid ``grid``, as an area for :func:`gis.edit.draw` to give to
    grid ``to``.

    The convex hull of the estate's buildings in that grid, buffered by :data:`ESTATE_M`, with the
    land between it and ``to`` (up to :data:`ESTATE_REACH_M` away, along the line the two grids
    share), within ``grid`` and without the other buildings. Buildings of other estates that
    overlap the estate's go with it: they cannot be parted (人无遗漏).

    Parameters
    ----------
    city : gis.model.City
        The stored city, with buildings that have an ``estate`` column.
    units : geopandas.GeoDataFrame
        The street's grids as drawn so far (``code``, geometry; city CRS).
    estate : str
        The estate's name.
    grid, to : str
        The grid it is in, and the neighbouring grid to take it.

    Returns
    -------
    area : shapely.Polygon or shapely.MultiPolygon
        In the city's metric CRS.
    along : list of str
        The codes of the buildings of other estates that go with it.

    Raises
    ------
    gis.errors.EditError
        When a grid is not one of ``units``, the estate has no building in ``grid``, or it does
        not border ``to``.

    Examples
    --------
    >>> from gis import read_city
    >>> from gis.edit import in_street
    >>> city = read_city("data/sample.gpkg")
    >>> units = city["grids"][in_street(city, "grids", "360102001000")][["code", "name", "geometry"]]
    >>> area, along = estate_area(city, units, "明珠家园", "360102001009-01", "360102001009-02")
    >>> area.geom_type in ("Polygon", "MultiPolygon") and area.area > 0
    True
    """
    codes = units["code"].tolist()
    for c in (grid, to):
        if c not in codes:
            raise EditError(f"{c!r} 不是本街道的网格 ({c!r} is not one of the street's grids)")
    if grid == to:
        raise EditError(f"小区已在 {to} 内 (the estate is in {to} already)")
    if "buildings" not in city or "estate" not in city["buildings"]:
        raise EditError("城市没有带小区名的建筑 (the stored city has no buildings with estates)")
    metric = city.metric_crs
    g = units.set_index("code").to_crs(metric).geometry
    b = city["buildings"].to_crs(metric)
    b = b[containing(units.to_crs(metric), b.geometry.values) == grid]
    ours = (b["estate"] == estate).to_numpy().copy()
    if not ours.any():
        raise EditError(f"网格 {grid} 内没有小区 {estate} 的建筑 (grid {grid} has no building of estate "
                        f"{estate!r})")
    own, geoms = ours.copy(), np.asarray(b.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms)
    while True:  # with the buildings overlapping them, transitively: those cannot be parted (人无遗漏)
        i, j = tree.query(geoms[ours], predicate="intersects")
        j = j[shapely.area(shapely.intersection(geoms[ours][i], geoms[j])) > PIECE_M2]
        if ours[j].all():
            break
        ours[j] = True
    hull = shapely.convex_hull(shapely.union_all(geoms[own])).buffer(ESTATE_M)
    land = shapely.union_all(np.r_[[hull], shapely.buffer(geoms[ours & ~own], ESTATE_M)])
    shared = shapely.intersection(g[grid].boundary, g[to].boundary)
    near = shapely.intersection(shared, land.buffer(ESTATE_REACH_M - ESTATE_M))
    if shapely.length(near) <= DRAW_SNAP_M:
        gap = round(float(shapely.distance(land, g[to])) + ESTATE_M)
        raise EditError(f"小区 {estate} 与网格 {to} 不相邻（相距约 {gap} 米），请改用画范围 "
                        f"(estate {estate!r} does not border grid {to}: about {gap} m away; draw the area instead)")
    area = shapely.intersection(shapely.union(land, shapely.convex_hull(shapely.union(hull, near))), g[grid])
    others = geoms[~ours]
    others = others[shapely.intersects(others, area)]
    if len(others):
        area = shapely.difference(area, shapely.union_all(others))
    return polygonal(np.array([area]))[0], b.loc[ours & (b["estate"] != estate).to_numpy(), "code"].tolist()

"""Edited units back on the stored lines, after a round trip through WGS84 GeoJSON.

Examples
--------
>>> from gis import read_city
>>> city = read_city("data/sample.gpkg")
>>> grids = city["grids"].head(3)[["code", "name", "geometry"]]
>>> back = grids.to_crs(4326).to_crs(city.crs)                  # what an editor sends back
>>> bool(back.geometry.values[0].equals_exact(grids.geometry.values[0], 0))
False
>>> bool(onto_stored(back, city, "grids").geometry.values[0].equals_exact(grids.geometry.values[0], 0))
True
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gis.model import LEVELS, City

#: Edited lines within this distance (m) of stored vertices are the stored lines: WGS84 GeoJSON and
#: the projection back move a vertex by far less (~1e-7 m), a user's edit by far more.
SNAP_M = 0.01


def onto_stored(units: gpd.GeoDataFrame, city: City, level: str) -> gpd.GeoDataFrame:
    """Edited units back on the stored geometry of ``city``.

    A unit that did not change (as many vertices, none moved by more than :data:`SNAP_M`) keeps its
    stored polygon exactly; a changed one has its vertices snapped to the stored vertices of this
    level and the level below within :data:`SNAP_M`. So edges shared with untouched neighbours match
    exactly after the round trip through WGS84: no unmatched edges, no slivers.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        The edited units (``code``), in the city's CRS.
    city : gis.model.City
        The stored city.
    level : {"communities", "grids"}
        Their layer.

    Returns
    -------
    geopandas.GeoDataFrame
        ``units`` with the geometries snapped (see the module's example).
    """
    tol = SNAP_M if city.crs.is_projected else SNAP_M / 111_320
    stored = city[level].drop_duplicates("code").set_index("code").geometry
    geoms = np.asarray(units.geometry.values, dtype=object).copy()
    same = np.array([c in stored.index and shapely.get_num_coordinates(g) == shapely.get_num_coordinates(stored[c])
                     and shapely.hausdorff_distance(g, stored[c]) <= tol for c, g in zip(units["code"], geoms)],
                    dtype=bool)
    geoms[same] = [stored[c] for c in units["code"][same]]
    changed = np.flatnonzero(~same)
    if len(changed):
        below = LEVELS[LEVELS.index(level) + 1] if LEVELS.index(level) + 1 < len(LEVELS) else None
        refs = np.concatenate([np.asarray(city[lv].geometry.values, dtype=object) for lv in (level, below)
                               if lv in city.layers])
        tree = shapely.STRtree(refs)
        for i in changed:
            near = refs[tree.query(geoms[i], predicate="dwithin", distance=tol)]
            if len(near):
                snapped = shapely.snap(geoms[i], shapely.union_all(shapely.boundary(near)), tol)
                geoms[i] = snapped if snapped.is_valid else geoms[i]
    return units.set_geometry(gpd.GeoSeries(geoms, index=units.index, crs=units.crs))

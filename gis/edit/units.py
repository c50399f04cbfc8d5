"""A street's units, and what lies in them: the helpers every edit of units uses.

Examples
--------
>>> from gis import read_city
>>> city = read_city("data/sample.gpkg")
>>> grids = city["grids"][in_street(city, "grids", "360102001000")]
>>> sizes = totals(grids, city["buildings"])
>>> list(sizes.columns), len(sizes) == len(grids)
(['households', 'residents'], True)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.model import City

#: Areas below this (m²) are noise, as for ``gis.check``: a unit outside its street by less, a drawn
#: area of less, a finding grown by less.
OUTSIDE_TOLERANCE_M2 = 1.0


def in_street(city: City, level: str, street: str) -> np.ndarray:
    """Which units of ``level`` belong to ``street``, by their parent codes.

    Parameters
    ----------
    city : gis.model.City
        With communities (and grids, for ``level="grids"``).
    level : {"communities", "grids"}
        The unit layer.
    street : str
        The street's code.

    Returns
    -------
    numpy.ndarray of bool
        One per row of ``city[level]``.

    Examples
    --------
    >>> from gis import read_city
    >>> city = read_city("data/sample.gpkg")
    >>> int(in_street(city, "communities", "360102001000").sum()) < len(city["communities"])
    True
    """
    if level == "communities":
        return (city["communities"]["street_code"] == street).to_numpy()
    comms = set(city["communities"].loc[city["communities"]["street_code"] == street, "code"])
    return city["grids"]["community_code"].isin(comms).to_numpy()


def containing(units: gpd.GeoDataFrame, geoms) -> np.ndarray:
    """For each geometry, the code of the unit containing a point on its surface.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Units with a ``code`` column, in the CRS of ``geoms``.
    geoms : array_like of shapely.Geometry
        What to place (buildings, facilities, units of the level below).

    Returns
    -------
    numpy.ndarray of object
        The unit's code, or None where no unit contains the point (a point on a shared edge is within
        neither; in two overlapping units, the last one's).

    Examples
    --------
    >>> units = gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    >>> containing(units, [shapely.box(0.2, 0.2, 0.4, 0.4), shapely.Point(1.5, 0.5), shapely.Point(5, 5)])
    array(['A', 'B', None], dtype=object)
    """
    out = np.full(len(geoms), None, dtype=object)
    if not len(geoms) or not len(units):
        return out
    pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    tree = shapely.STRtree(np.asarray(units.geometry.values, dtype=object))
    i, j = tree.query(pts, predicate="within")
    codes = units["code"].to_numpy(object)
    out[i] = codes[j]
    return out


def totals(units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Households and residents of each unit: the sum over the buildings it contains.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Units with a ``code`` column.
    buildings : geopandas.GeoDataFrame or None
        Buildings (``households``, ``residents``; unreadable counts are 0), in the units' CRS.

    Returns
    -------
    pandas.DataFrame
        ``households`` and ``residents`` (int64), indexed by the units' codes.

    Examples
    --------
    >>> units = gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    >>> b = gpd.GeoDataFrame({"households": [3, 4, 5]}, geometry=shapely.points([(.5, .5), (.6, .6), (1.5, .5)]))
    >>> totals(units, b)["households"].to_dict()
    {'A': 7, 'B': 5}
    """
    out = pd.DataFrame({"households": 0, "residents": 0}, index=pd.Index(units["code"].to_numpy(object)))
    if buildings is None or not len(buildings):
        return out
    where = containing(units, buildings.geometry.values)
    for m in ("households", "residents"):
        if m in buildings:
            v = pd.to_numeric(buildings[m], errors="coerce").fillna(0).to_numpy()
            s = pd.Series(v, index=where).groupby(level=0).sum()
            out[m] = s.reindex(out.index).fillna(0).astype(np.int64)
    return out

"""Boxes and areas between the city's CRS, WGS84 and EPSG:3857, for the store's spatial queries.

A WGS84 bbox is densified before it is projected (:func:`projected_box`), so both backends test the
same polygon; only the part of it near a layer is projected at all (:func:`near_area`), since a box
around the world comes out of a Gauss–Krüger zone as a tangle.

Examples
--------
>>> area = query_area((115.85, 28.68, 115.87, 28.70), "EPSG:4548")
>>> [round(v) for v in wgs84_bounds(area.bounds, "EPSG:4548")] == [116, 29, 116, 29]
True
"""

from __future__ import annotations

import threading

import numpy as np
import pyproj
import shapely

_transformers: dict[tuple[str, str], pyproj.Transformer] = {}
_transformers_lock = threading.Lock()


def transformer(a: str, b: str) -> pyproj.Transformer:
    """A transformer (x/y in lon/lat order) from CRS ``a`` to ``b`` (WKT or names), made once per process.

    pyproj remakes a transformer in each thread that uses it: from two CRSs that is a search of the
    PROJ database (0.1–0.2 s), from a PROJ pipeline well under a millisecond. So the transformer is
    remade from its pipeline, unless PROJ has several candidates (datum shifts chosen per point).

    Parameters
    ----------
    a, b : str
        The CRSs, as WKT or as names pyproj knows (``"EPSG:4326"``).

    Returns
    -------
    pyproj.Transformer
        The same object for the same pair, in every thread.

    Examples
    --------
    >>> transformer("EPSG:4326", "EPSG:3857") is transformer("EPSG:4326", "EPSG:3857")
    True
    >>> [round(v) for v in transformer("EPSG:4326", "EPSG:3857").transform(180, 0)]
    [20037508, 0]
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


def projected_box(bounds, a: str, b: str, parts: int = 20):
    """The box ``bounds`` in CRS ``a`` as a geometry in CRS ``b``, following its curves there.

    Parameters
    ----------
    bounds : tuple of float
        ``(minx, miny, maxx, maxy)`` in CRS ``a``.
    a, b : str
        The CRSs (WKT or names).
    parts : int, default 20
        Each edge is cut in this many pieces before it is projected.

    Returns
    -------
    shapely.Geometry or None
        A polygon (a line or a point for a flat box) in ``b``; None when part of it does not
        project to ``b``.

    Examples
    --------
    >>> projected_box((115.85, 28.68, 115.87, 28.70), "EPSG:4326", "EPSG:4548").geom_type
    'Polygon'
    >>> projected_box((115.85, 28.68, 115.85, 28.68), "EPSG:4326", "EPSG:4548").geom_type
    'Point'
    >>> projected_box((1e9, 1e9, 2e9, 2e9), "EPSG:4548", "EPSG:4326") is None  # far off the Earth
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
    x, y = transformer(a, b).transform(xy[:, 0], xy[:, 1])
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    return shapely.set_coordinates(box, np.column_stack([x, y]))


def query_area(bbox, crs: str | None):
    """The WGS84 ``bbox`` (minx, miny, maxx, maxy) as a densified polygon in ``crs`` (WKT; None: the
    city has no CRS, the box is taken as it is); None when part of it does not project there.

    >>> area = query_area((115.85, 28.68, 115.87, 28.70), "EPSG:4548")
    >>> len(shapely.get_coordinates(area)) > 5
    True
    """
    return projected_box(bbox, "EPSG:4326", crs) if crs else shapely.box(*bbox)


def wgs84_bounds(bounds, crs: str | None):
    """The WGS84 bounds of the box ``bounds`` in ``crs`` (WKT; None: the box as it is), or None when it
    does not project.

    >>> wgs84_bounds((0, 0, 1, 1), None)
    (0.0, 0.0, 1.0, 1.0)
    """
    box = projected_box(bounds, crs, "EPSG:4326") if crs else shapely.box(*bounds)
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


def eroded(area, crs, metres: float = 1.0):
    """``area`` shrunk by ``metres`` (measured in a projected CRS when ``crs`` is geographic).

    Parameters
    ----------
    area : shapely.Geometry
        A polygon in ``crs``.
    crs : pyproj.CRS or None
        Its CRS; None or projected: ``area`` is shrunk in its own units.
    metres : float, default 1.0
        How much to take off its outline.

    Returns
    -------
    shapely.Geometry
        The shrunk polygon, in ``crs``.

    Examples
    --------
    >>> eroded(shapely.box(0, 0, 10, 10), None).area
    64.0
    >>> small = eroded(shapely.box(115.85, 28.68, 115.86, 28.69), pyproj.CRS(4326), 10)
    >>> 115.85 < small.bounds[0] < 115.8502
    True
    """
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

"""Noding a polygonal coverage after some of its polygons changed: no T-junctions.

A changed polygon's new line that ends on the edge of a neighbouring polygon adds a vertex there
that the neighbour does not have, so the two edges no longer match vertex for vertex (a
T-junction: GEOS's coverage validation reports it). :func:`node_neighbours` inserts such vertices
into the neighbours. ``gis.simulate`` uses it for the units a plan does not redraw;
:func:`node_changed`, which the editor (:func:`gis.edit.draw`) uses for the units around a drawn
area, first snaps the round-trip noise of the drawn lines onto the stored vertices.
:func:`no_specks` drops the parts and holes of no area that overlays leave where pieces rejoin.

Examples
--------
>>> from shapely import Polygon, box, get_coordinates
>>> left = Polygon([(0, 0), (5, 0), (5, 10), (0, 10)])  # its line x = 5 ends on top's edge at (5, 10)
>>> top = node_neighbours([left], [box(0, 10, 10, 20)])[0]
>>> [(5.0, 10.0) in map(tuple, get_coordinates(top)), top.area]
[True, 100.0]
"""

from __future__ import annotations

import numpy as np
import shapely

#: Distance (m) under which a vertex counts as lying on a neighbour's edge.
ON_EDGE = 1e-6
#: Parts and holes of polygons under this area (m²) are overlay noise (:func:`no_specks`).
SPECK_M2 = 1e-3


def node_neighbours(changed, neighbours, tolerance: float = ON_EDGE) -> np.ndarray:
    """Insert into ``neighbours`` the vertices of ``changed`` that lie on their edges.

    Every vertex of ``changed`` closer than ``tolerance`` to the boundary of a neighbour but not
    yet one of its vertices is inserted into that edge (``shapely.snap`` with the vertices near
    each neighbour), so the coverage stays valid; shapes and areas do not change beyond
    ``tolerance``.

    Parameters
    ----------
    changed : array_like of shapely.Geometry
        The changed polygons, or any geometries (points too) whose vertices are to be inserted.
    neighbours : array_like of shapely.Geometry
        The polygons to node; not changed in place.
    tolerance : float, default ON_EDGE
        Distance (CRS units) under which a vertex counts as lying on an edge. A neighbour's own
        vertex closer than this to one of the vertices moves onto it, so a larger tolerance also
        absorbs noise (the API's editor uses 1e-3 m for the WGS84 round trip).

    Returns
    -------
    numpy.ndarray of shapely.Geometry
        ``neighbours``, those that meet a vertex of ``changed`` noded; the others as they were.

    Examples
    --------
    >>> from shapely import Polygon, box
    >>> new = Polygon([(0, 0), (5, 0), (5, 10), (0, 10)])  # ends on the neighbour's edge at (5, 10)
    >>> out = node_neighbours([new], [box(0, 10, 10, 20), box(20, 0, 30, 10)])
    >>> shapely.get_num_coordinates(out).tolist(), out[0].area
    ([6, 5], 100.0)
    """
    neighbours = np.asarray(neighbours, dtype=object).copy()
    pts = shapely.points(np.unique(shapely.get_coordinates(np.asarray(changed, dtype=object)), axis=0))
    if not len(pts) or not len(neighbours):
        return neighbours
    pi, ni = shapely.STRtree(shapely.boundary(neighbours)).query(pts, predicate="dwithin", distance=tolerance)
    for n in np.unique(ni):
        mine = shapely.multipoints(pts[pi[ni == n]])
        neighbours[n] = shapely.snap(neighbours[n], mine, tolerance)
    return neighbours


def vertices(geoms) -> np.ndarray:
    """The distinct vertices of ``geoms``, sorted.

    >>> vertices([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]).tolist()
    [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 0.0], [2.0, 1.0]]
    """
    return np.unique(shapely.get_coordinates(np.asarray(geoms, dtype=object)), axis=0)


def no_specks(geoms, min_area: float = SPECK_M2) -> np.ndarray:
    """The polygons without parts or holes of under ``min_area``.

    They are overlay noise where pieces rejoin, which noding may collapse: a hole left with under
    4 points makes the polygon invalid, a part of no area makes the unit multipart.

    Parameters
    ----------
    geoms : array_like of shapely.Polygon or shapely.MultiPolygon
        Polygons; not changed.
    min_area : float, default SPECK_M2
        Parts and holes of less area (CRS units²) are dropped.

    Returns
    -------
    numpy.ndarray of shapely.Geometry
        A polygon left with one part is a Polygon.

    Examples
    --------
    >>> shell = [(0, 0), (100, 0), (100, 100), (0, 100)]
    >>> speck = shapely.Polygon(shell, [[(50, 50), (50.00001, 50), (50, 50.00001)]])
    >>> flat = shapely.MultiPolygon([shapely.Polygon(shell), shapely.Polygon([(200, 0), (300, 0), (300, 1e-7)])])
    >>> [(g.geom_type, len(g.interiors), g.area) for g in no_specks([speck, flat])]
    [('Polygon', 0, 10000.0), ('Polygon', 0, 10000.0)]
    """
    out = np.asarray(geoms, dtype=object).copy()
    for i, g in enumerate(out):
        parts = shapely.get_parts(g)
        if not any(len(p.interiors) for p in parts) and (len(parts) < 2 or shapely.area(parts).min() > min_area):
            continue
        kept = [shapely.Polygon(p.exterior, [h for h in p.interiors
                                             if len(h.coords) >= 4 and shapely.Polygon(h).area > min_area])
                for p in parts if p.area > min_area]
        out[i] = kept[0] if len(kept) == 1 else shapely.MultiPolygon(kept)
    return out


def node_changed(geoms: np.ndarray, before, changed: list[int], tolerance: float,
                 min_area: float = SPECK_M2) -> list[int]:
    """Make the ``changed`` polygons of a coverage meet every polygon vertex for vertex.

    A vertex of a changed polygon within ``tolerance`` of one of the vertices ``before`` becomes it
    (the noise of a round trip through WGS84); the other new vertices (the ends of new lines) are
    added to every polygon whose line passes through them (:func:`node_neighbours`), and those
    polygons count as changed too. Specks (:func:`no_specks`) are dropped before and after.

    Parameters
    ----------
    geoms : numpy.ndarray of shapely.Geometry
        The coverage's polygons; changed in place.
    before : numpy.ndarray of shapely.Geometry
        The polygons before the change (and any others whose vertices count), for their vertices.
    changed : list of int
        Positions in ``geoms`` of the changed polygons.
    tolerance : float
        Distance (CRS units) within which vertices are one.
    min_area : float, default SPECK_M2
        Parts and holes of less area are dropped.

    Returns
    -------
    list of int
        The positions of the polygons changed now: ``changed`` and those the new vertices went into.

    Examples
    --------
    >>> before = np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(0, -10, 20, 0)])
    >>> notch = shapely.box(10, 0, 12, 5)              # the first unit takes a notch of the second
    >>> geoms = np.array([before[0] | notch, before[1] - notch, before[2]])
    >>> node_changed(geoms, before, [0, 1], 1e-3)     # the third one's edge gets the new vertex
    [0, 1, 2]
    >>> [12.0, 0.0] in shapely.get_coordinates(geoms[2]).tolist()
    True
    """
    old = vertices(before[shapely.STRtree(before).query(shapely.envelope(shapely.union_all(geoms[changed])))])
    xy = vertices(geoms[changed])
    near = shapely.STRtree(shapely.points(old)).nearest(shapely.points(xy))
    fresh = []
    for p in xy[shapely.distance(shapely.points(xy), shapely.points(old[near])) > tolerance]:
        if all(np.hypot(*(p - q)) > tolerance for q in fresh):  # a few points: the ends of the new lines
            fresh.append(p)
    fresh = np.array(fresh).reshape(-1, 2)
    if len(fresh):
        _, meet = shapely.STRtree(shapely.boundary(geoms)).query(shapely.points(fresh), predicate="dwithin",
                                                                 distance=tolerance)
        changed = sorted(set(changed) | set(meet.tolist()))
    # the changed polygons' noise snaps onto the old vertices, and the ends of the new lines go into
    # the polygons they meet: both are noding onto old ∪ fresh at the tolerance
    geoms[changed] = no_specks(shapely.remove_repeated_points(node_neighbours(
        shapely.points(np.r_[old, fresh]),
        no_specks(shapely.remove_repeated_points(geoms[changed], tolerance), min_area), tolerance)), min_area)
    return changed


__all__ = ["ON_EDGE", "SPECK_M2", "no_specks", "node_changed", "node_neighbours", "vertices"]

"""Noding a polygonal coverage after some of its polygons changed: no T-junctions.

A changed polygon's new line that ends on the edge of a neighbouring polygon adds a vertex there
that the neighbour does not have, so the two edges no longer match vertex for vertex (a
T-junction: GEOS's coverage validation reports it). :func:`node_neighbours` inserts such vertices
into the neighbours. ``gis.simulate`` uses it for the units a plan does not redraw; the API's
proposal editor (``api.proposals.draw``) for the units around a drawn area, after snapping the
round-trip noise of the drawn lines onto the stored vertices.

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


__all__ = ["ON_EDGE", "node_neighbours"]

"""Walking distances along the network: from the nearest of many sources, or from each source.

Each source (a facility, a candidate site) starts its walk at the two ends of its edge (having
walked its access and the distance to that end), so Dijkstra searches bounded by the limit,
each pruned where an earlier source is nearer (:func:`gis.coverage.dijkstra.nearest`), give every
node its distance to the nearest source.
A target (a building) is reached through either end of its own edge, or directly along the edge
when a source sits on the same edge.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> from gis.coverage.network import build_network, attach
>>> net = build_network(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1000, 0)])]))
>>> nearest(net, attach(net, [Point(0, 0), Point(900, 0)]), attach(net, [Point(300, 5), Point(700, 0)])).tolist()
[305.0, 200.0]
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from gis.coverage import dijkstra
from gis.coverage.network import Attachment, Network


def _same_edge(net: Network, src: Attachment, tgt: Attachment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (source, target, direct distance along the edge) of a source and a target on one edge."""
    order = np.argsort(src.edge, kind="stable")
    edges, start, count = np.unique(src.edge[order], return_index=True, return_counts=True)
    slot = np.full(len(net.u), -1)
    slot[edges] = np.arange(len(edges))
    k = slot[tgt.edge]
    t = np.flatnonzero(k >= 0)
    first, c = start[k[t]], count[k[t]]
    t = np.repeat(t, c)
    s = order[np.repeat(first, c) + np.arange(len(t)) - np.repeat(np.cumsum(c) - c, c)]
    return s, t, src.access[s] + np.abs(src.along[s] - tgt.along[t]) + tgt.access[t]


def _seeds(src: Attachment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node, distance walked, source) of the two ends of each source's edge: the searches' seeds."""
    return src.ends.ravel(), src.to_ends.ravel(), np.tile(np.arange(len(src)), 2)


def node_distance(net: Network, src: Attachment, limit: float = np.inf) -> np.ndarray:
    """Walking distance from each node of ``net`` to its nearest source (``inf`` beyond ``limit``)."""
    return dijkstra.nearest(net.csr, *_seeds(src), limit)


def nearest(net: Network, src: Attachment, tgt: Attachment, limit: float = np.inf, *,
            nodes: np.ndarray | None = None) -> np.ndarray:
    """Walking distance from each target to its nearest source (``inf`` beyond ``limit``).

    Parameters
    ----------
    net : Network
    src, tgt : Attachment
        Sources (facilities) and targets (buildings) on ``net``.
    limit : float
        Walks longer than this are not followed.
    nodes : ndarray, optional
        ``node_distance(net, src, limit)``, when already computed.
    """
    if not len(src):
        return np.full(len(tgt), np.inf)
    d = (node_distance(net, src, limit) if nodes is None else nodes)[tgt.ends]
    d += tgt.to_ends
    best = np.minimum(d[0], d[1])
    _, t, direct = _same_edge(net, src, tgt)
    np.minimum.at(best, t, direct)
    with np.errstate(divide="ignore"):
        return best / (best <= limit)  # x / 0 = inf beyond the limit (faster than a masked write)


def reach(net: Network, src: Attachment, tgt: Attachment, limit: float) -> sparse.csr_matrix:
    """Which targets each source reaches within ``limit``: a boolean (sources × targets) matrix.

    One Dijkstra per source, bounded by ``limit`` (:func:`gis.coverage.dijkstra.each`); each
    reached node passes its distance on to the targets on the edges at that node.

    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> from gis.coverage.network import build_network, attach
    >>> net = build_network(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1000, 0)])]))
    >>> reach(net, attach(net, [Point(0, 0), Point(1000, 0)]),
    ...       attach(net, [Point(100, 0), Point(500, 0), Point(950, 0)]), 500).toarray().tolist()
    [[True, True, False], [False, True, True]]
    """
    n, m = len(net.xy), len(src)
    # targets by the node they are reached through: the two ends of their edge, with the offset
    t_node, t_off, t_id = tgt.ends.ravel(), tgt.to_ends.ravel(), np.tile(np.arange(len(tgt)), 2)
    order = np.argsort(t_node, kind="stable")
    t_off, t_id = t_off[order], t_id[order]
    count = np.bincount(t_node, minlength=n)
    start = np.cumsum(count) - count
    s, node, dist = dijkstra.each(net.csr, *_seeds(src), limit)
    # expand each reached (source, node) to the targets reached through that node
    c = count[node]
    rep = np.repeat(np.arange(len(node)), c)
    pos = start[node][rep] + np.arange(len(rep)) - np.repeat(np.cumsum(c) - c, c)
    ok = dist[rep] + t_off[pos] <= limit
    rows, cols = [s[rep][ok]], [t_id[pos][ok]]
    si, ti, d = _same_edge(net, src, tgt)
    rows.append(si[d <= limit]), cols.append(ti[d <= limit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    out = sparse.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(m, len(tgt)))
    out.sum_duplicates()
    return out

"""Walking distances along the network: from the nearest of many sources, or from each source.

Each source (a facility, a candidate site) becomes an extra node with one-way edges to the two
ends of its edge (weights: access + distance to that end), so one multi-source Dijkstra
(``scipy.sparse.csgraph.dijkstra`` with ``min_only=True`` and ``limit=``) gives every node its
distance to the nearest source. A target (a building) is reached through either end of its own
edge, or directly along the edge when a source sits on the same edge.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> from gis.coverage.network import build_network, attach
>>> net = build_network(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1000, 0)])]))
>>> d, src = nearest(net, attach(net, [Point(0, 0), Point(900, 0)]), attach(net, [Point(300, 5), Point(700, 0)]))
>>> d.tolist(), src.tolist()
([305.0, 200.0], [0, 1])
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from gis.coverage.network import Attachment, Network


def _with_sources(net: Network, src: Attachment) -> sparse.csr_matrix:
    """The network's graph with one extra node per source, with edges to both ends of its edge."""
    return net.graph(src.access + src.along, src.access + net.length[src.edge] - src.along, src.edge)


def _via_ends(node_dist: np.ndarray, net: Network, tgt: Attachment) -> tuple[np.ndarray, np.ndarray]:
    """Distance to each target through the ``u`` and ``v`` ends of its edge (``node_dist``: (..., nodes))."""
    du = node_dist[..., net.u[tgt.edge]] + tgt.along
    dv = node_dist[..., net.v[tgt.edge]] + net.length[tgt.edge] - tgt.along
    return du + tgt.access, dv + tgt.access


def _same_edge(src: Attachment, tgt: Attachment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (source, target, direct distance along the edge) of a source and a target on one edge."""
    order = np.argsort(src.edge, kind="stable")
    per_edge = np.bincount(src.edge, minlength=int(max(src.edge.max(initial=0), tgt.edge.max(initial=0))) + 1)
    start = np.cumsum(per_edge) - per_edge
    first, count = start[tgt.edge], per_edge[tgt.edge]
    t = np.repeat(np.arange(len(tgt)), count)
    s = order[np.repeat(first, count) + np.arange(len(t)) - np.repeat(np.cumsum(count) - count, count)]
    return s, t, src.access[s] + np.abs(src.along[s] - tgt.along[t]) + tgt.access[t]


def node_distance(net: Network, src: Attachment, limit: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance from each node of ``net`` to its nearest source (``inf`` beyond ``limit``),
    and that source's index (-1 if none): one multi-source Dijkstra."""
    n = len(net.xy)
    if not len(src):
        return np.full(n, np.inf), np.full(n, -1)
    dist, _, origin = csgraph.dijkstra(_with_sources(net, src), directed=True, indices=n + np.arange(len(src)),
                                       min_only=True, limit=limit, return_predecessors=True)
    return dist[:n], np.where(np.isfinite(dist[:n]), origin[:n] - n, -1)


def nearest(net: Network, src: Attachment, tgt: Attachment, limit: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance from each target to its nearest source, and that source's index.

    Parameters
    ----------
    net : Network
    src, tgt : Attachment
        Sources (facilities) and targets (buildings) on ``net``.
    limit : float
        Walks longer than this are not followed: their distance is ``inf`` and source ``-1``.

    Returns
    -------
    distance : ndarray of float, source : ndarray of int
    """
    if not len(src):
        return np.full(len(tgt), np.inf), np.full(len(tgt), -1)
    dist, origin = node_distance(net, src, limit)
    du, dv = _via_ends(dist, net, tgt)
    best = np.minimum(du, dv)
    source = np.where(du <= dv, origin[net.u[tgt.edge]], origin[net.v[tgt.edge]])
    si, ti, d = _same_edge(src, tgt)
    closer = d < best[ti]
    si, ti, d = si[closer], ti[closer], d[closer]
    order = np.argsort(-d, kind="stable")  # the shortest written last wins
    best[ti[order]], source[ti[order]] = d[order], si[order]
    far = best > limit
    best[far], source[far] = np.inf, -1
    return best, source


def reach(net: Network, src: Attachment, tgt: Attachment, limit: float, *,
          cells: int = 20_000_000) -> sparse.csr_matrix:
    """Which targets each source reaches within ``limit``: a boolean (sources × targets) matrix.

    One Dijkstra per source, bounded by ``limit``, run in blocks of about ``cells`` distances;
    each reached node passes its distance on to the targets on the edges at that node.

    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> from gis.coverage.network import build_network, attach
    >>> net = build_network(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1000, 0)])]))
    >>> reach(net, attach(net, [Point(0, 0), Point(1000, 0)]),
    ...       attach(net, [Point(100, 0), Point(500, 0), Point(950, 0)]), 500).toarray().tolist()
    [[True, True, False], [False, True, True]]
    """
    n, m = len(net.xy), len(src)
    graph = _with_sources(net, src)
    # targets by the node they are reached through: the two ends of their edge, with the offset
    t_node = np.r_[net.u[tgt.edge], net.v[tgt.edge]]
    t_off = np.r_[tgt.along, net.length[tgt.edge] - tgt.along] + np.r_[tgt.access, tgt.access]
    t_id = np.r_[np.arange(len(tgt)), np.arange(len(tgt))]
    order = np.argsort(t_node, kind="stable")
    t_off, t_id = t_off[order], t_id[order]
    count = np.bincount(t_node, minlength=n)
    start = np.cumsum(count) - count
    block = max(1, cells // (n + m))
    rows, cols = [], []
    for first in range(0, m, block):
        idx = np.arange(first, min(first + block, m))
        dist = csgraph.dijkstra(graph, directed=True, indices=n + idx, limit=limit)[:, :n]
        r, node = np.nonzero(np.isfinite(dist))
        # expand each reached (source, node) to the targets reached through that node
        c = count[node]
        rep = np.repeat(np.arange(len(node)), c)
        pos = start[node][rep] + np.arange(len(rep)) - np.repeat(np.cumsum(c) - c, c)
        ok = dist[r[rep], node[rep]] + t_off[pos] <= limit
        rows.append(idx[r[rep][ok]]), cols.append(t_id[pos][ok])
    si, ti, d = _same_edge(src, tgt)
    rows.append(si[d <= limit]), cols.append(ti[d <= limit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    out = sparse.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(m, len(tgt)))
    out.sum_duplicates()
    return out

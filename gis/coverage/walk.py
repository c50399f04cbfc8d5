"""Walking distances along the network: from the nearest of many sources, or from each source.

Each source (a facility, a candidate site) becomes an extra node joined to the two ends of its
edge (weights: access + distance to that end), so one multi-source Dijkstra
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
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from gis.coverage.network import Attachment, Network


def _with_sources(net: Network, src: Attachment) -> sparse.csr_matrix:
    """The network's graph with one extra node per source, joined to both ends of its edge."""
    n, m = len(net.xy), len(src)
    extra = n + np.arange(m)
    to_u = src.access + src.along
    to_v = src.access + net.length[src.edge] - src.along
    return net.graph(np.r_[extra, extra], np.r_[net.u[src.edge], net.v[src.edge]], np.r_[to_u, to_v], m)


def _via_ends(node_dist: np.ndarray, net: Network, tgt: Attachment) -> tuple[np.ndarray, np.ndarray]:
    """Distance to each target through the ``u`` and ``v`` ends of its edge (``node_dist``: (..., nodes))."""
    du = node_dist[..., net.u[tgt.edge]] + tgt.along
    dv = node_dist[..., net.v[tgt.edge]] + net.length[tgt.edge] - tgt.along
    return du + tgt.access, dv + tgt.access


def _same_edge(src: Attachment, tgt: Attachment) -> pd.DataFrame:
    """Pairs of a source and a target on the same edge, with their direct distance along it."""
    s = pd.DataFrame({"edge": src.edge, "s": np.arange(len(src))})
    t = pd.DataFrame({"edge": tgt.edge, "t": np.arange(len(tgt))})
    pairs = s.merge(t, on="edge")
    si, ti = pairs["s"].to_numpy(), pairs["t"].to_numpy()
    pairs["d"] = src.access[si] + np.abs(src.along[si] - tgt.along[ti]) + tgt.access[ti]
    return pairs


def node_distance(net: Network, src: Attachment, limit: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Walking distance from each node of ``net`` to its nearest source (``inf`` beyond ``limit``),
    and that source's index (-1 if none): one multi-source Dijkstra."""
    n = len(net.xy)
    if not len(src):
        return np.full(n, np.inf), np.full(n, -1)
    dist, _, origin = csgraph.dijkstra(_with_sources(net, src), directed=False, indices=n + np.arange(len(src)),
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
    pairs = _same_edge(src, tgt)
    if len(pairs):
        pairs = pairs.sort_values("d").drop_duplicates("t")
        ti, d = pairs["t"].to_numpy(), pairs["d"].to_numpy()
        closer = d < best[ti]
        best[ti[closer]], source[ti[closer]] = d[closer], pairs["s"].to_numpy()[closer]
    far = best > limit
    best[far], source[far] = np.inf, -1
    return best, source


def reach(net: Network, src: Attachment, tgt: Attachment, limit: float, *,
          cells: int = 20_000_000) -> sparse.csr_matrix:
    """Which targets each source reaches within ``limit``: a boolean (sources × targets) matrix.

    One Dijkstra per source, bounded by ``limit``, run in blocks of about ``cells`` distances.

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
    block = max(1, cells // max(n + m, len(tgt), 1))
    rows, cols = [], []
    for start in range(0, m, block):
        idx = np.arange(start, min(start + block, m))
        dist = csgraph.dijkstra(graph, directed=False, indices=n + idx, limit=limit)
        du, dv = _via_ends(dist, net, tgt)
        r, c = np.nonzero(np.minimum(du, dv) <= limit)
        rows.append(idx[r]), cols.append(c)
    pairs = _same_edge(src, tgt)
    pairs = pairs[pairs["d"] <= limit]
    rows.append(pairs["s"].to_numpy()), cols.append(pairs["t"].to_numpy())
    r, c = np.concatenate(rows), np.concatenate(cols)
    out = sparse.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(m, len(tgt)))
    out.sum_duplicates()
    return out

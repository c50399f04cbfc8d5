"""Bounded Dijkstra searches on a sparse graph, compiled with numba.

A walk starts from a source's *seeds*, pairs of a node and a distance already walked: a facility
reaches the network at a point of an edge, so it starts at both ends of that edge at once. Walks stop at
``limit``. ``graph`` is a ``scipy.sparse.csr_matrix`` of non-negative edge lengths.

* :func:`nearest` — every node's distance to its nearest source, each search pruned where an
  earlier source is nearer;
* :func:`each` — for each source (a group of seeds), the nodes it reaches within ``limit``: one
  search per source, sharing one distance array that is reset through the nodes it touched, so the
  cost is that of the nodes reached, not of sources × nodes.

Both are Dijkstra's algorithm (Dijkstra 1959, *Numerische Mathematik* 1: 269–271) with a binary
heap and lazy deletion. ``scipy.sparse.csgraph.dijkstra`` starts a search only at a node, so each
source on an edge would need a node of its own (a copy of the graph per call); it fills a dense
row of distances per source; and its one search from all sources at once keeps every source's
frontier in one deep heap, twice as slow on the benchmark network as :func:`nearest`.

Examples
--------
>>> from scipy import sparse
>>> g = sparse.csr_matrix(([100.0, 100.0, 50.0, 50.0], ([0, 1, 1, 2], [1, 0, 2, 1])), shape=(3, 3))
>>> nearest(g, [0, 2], [10.0, 0.0], group=[0, 1], limit=120).tolist()
[10.0, 50.0, 0.0]
>>> [a.tolist() for a in each(g, [0, 1, 2], [0.0, 0.0, 30.0], group=[0, 1, 1], limit=60)]
[[0, 1, 1], [0, 1, 2], [0.0, 0.0, 30.0]]
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _push(key, item, size, d, v):  # put (d, v) on the heap of ``size`` entries
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if key[parent] <= d:
            break
        key[i], item[i] = key[parent], item[parent]
        i = parent
    key[i], item[i] = d, v


@njit(cache=True, nogil=True)
def _pop(key, item, size):  # drop the top of a heap of ``size + 1`` entries (the caller read it)
    d, v = key[size], item[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and key[child + 1] < key[child]:
            child += 1
        if key[child] >= d:
            break
        key[i], item[i] = key[child], item[child]
        i = child
    key[i], item[i] = d, v


@njit(cache=True, nogil=True)
def _search(indptr, indices, data, seed_node, seed_dist, limit, dist, key, item, touched, n_touched):
    """Dijkstra from the seeds over ``dist`` (inf where not yet reached); appends every node it sets
    to ``touched`` (when given) and returns the new count."""
    size = 0
    for k in range(len(seed_node)):
        v, d = seed_node[k], seed_dist[k]
        if d <= limit and d < dist[v]:
            if dist[v] == np.inf and len(touched):
                touched[n_touched] = v
                n_touched += 1
            dist[v] = d
            _push(key, item, size, d, v)
            size += 1
    while size > 0:
        d, v = key[0], item[0]
        size -= 1
        _pop(key, item, size)
        if d > dist[v]:
            continue  # a stale entry: v was reached by a shorter walk since
        for e in range(indptr[v], indptr[v + 1]):
            w, nd = indices[e], d + data[e]
            if nd < dist[w] and nd <= limit:  # as for a seed above: a helper for both was 1.6× slower
                if dist[w] == np.inf and len(touched):
                    touched[n_touched] = w
                    n_touched += 1
                dist[w] = nd
                _push(key, item, size, nd, w)
                size += 1
    return n_touched


def _heap(graph, n_seeds):  # room for every push of one search: each seed once, each edge at most once
    size = graph.nnz + n_seeds + 1
    return np.empty(size), np.empty(size, dtype=np.int64)


def _sources(node, dist, group):
    """The seeds sorted by source, and where each source's seeds start (one more entry than sources)."""
    node, dist, group = (np.asarray(node, dtype=np.int64), np.asarray(dist, dtype=float),
                         np.asarray(group, dtype=np.int64))
    order = np.argsort(group, kind="stable")
    start = np.searchsorted(group[order], np.arange(group.max() + 2 if len(group) else 1))
    return node[order], dist[order], start


@njit(cache=True, nogil=True)
def _nearest(indptr, indices, data, seed_node, seed_dist, start, order, limit, key, item):
    dist = np.full(len(indptr) - 1, np.inf)
    none = np.empty(0, dtype=np.int64)
    for s in order:
        a, b = start[s], start[s + 1]
        _search(indptr, indices, data, seed_node[a:b], seed_dist[a:b], limit, dist, key, item, none, 0)
    return dist


def nearest(graph, node, dist, group, limit: float = np.inf) -> np.ndarray:
    """Distance of every node to its nearest source (``inf`` beyond ``limit``).

    One search per source over a shared distance array: a search goes on only where it is nearer
    than every source before it, so each heap stays small (the walk around one source) and the
    nodes are settled about as often as by a single search from all sources at once. The sources
    are taken in a fixed random order, so that a node is improved O(log sources) times in
    expectation whatever their layout (as in randomised incremental constructions).

    Parameters
    ----------
    graph : scipy.sparse.csr_matrix
        Edge lengths (directed: row → column).
    node, dist : array_like
        The seeds: nodes, and the distance already walked at each.
    group : array_like of int
        The source (0, 1, …) each seed belongs to.
    limit : float
        Walks longer than this are not followed.
    """
    node, dist, start = _sources(node, dist, group)
    key, item = _heap(graph, len(node))
    order = np.random.default_rng(0).permutation(len(start) - 1)
    return _nearest(graph.indptr, graph.indices, graph.data, node, dist, start, order, float(limit), key, item)


@njit(cache=True, nogil=True)
def _each(indptr, indices, data, seed_node, seed_dist, start, limit, key, item):
    n = len(indptr) - 1
    dist = np.full(n, np.inf)
    touched = np.empty(n, dtype=np.int64)
    cap = max(16, 4 * (len(start) - 1))
    src, nodes, d = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap)
    m = 0
    for s in range(len(start) - 1):
        a, b = start[s], start[s + 1]
        k = _search(indptr, indices, data, seed_node[a:b], seed_dist[a:b], limit, dist, key, item, touched, 0)
        if m + k > cap:
            cap = max(2 * cap, m + k)
            src, nodes, d = _grow(src, cap), _grow(nodes, cap), _grow(d, cap)
        for i in range(k):
            v = touched[i]
            src[m], nodes[m], d[m] = s, v, dist[v]
            dist[v] = np.inf
            m += 1
    return src[:m], nodes[:m], d[:m]


@njit(cache=True, nogil=True)
def _grow(a, size):
    out = np.empty(size, a.dtype)
    out[:len(a)] = a
    return out


def each(graph, node, dist, group, limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each source, the nodes it reaches within ``limit`` and its distance to them.

    Parameters are those of :func:`nearest`.

    Returns
    -------
    source, node, distance : ndarray
        One entry per (source, reached node), sources in order.
    """
    node, dist, start = _sources(node, dist, group)
    key, item = _heap(graph, len(node))
    return _each(graph.indptr, graph.indices, graph.data, node, dist, start, float(limit), key, item)

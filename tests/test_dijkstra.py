"""gis.coverage.dijkstra against scipy's Dijkstra, on random directed graphs with sources on edges."""

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse import csgraph

from gis.coverage import dijkstra


def random_case(seed, n=300, m=40):
    """A random sparse directed graph (some one-way edges, some dead ends, some islands) and ``m``
    sources, each with 1–3 seeds (node, distance already walked)."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, 4 * n), rng.integers(0, n, 4 * n)
    w = rng.uniform(1, 100, 4 * n)
    graph = sparse.csr_matrix((w, (a, b)), shape=(n, n))  # duplicates add up: still a valid length
    graph.eliminate_zeros()
    k = rng.integers(1, 4, m)
    group = np.repeat(np.arange(m), k)
    node = rng.integers(0, n, len(group))
    dist = rng.uniform(0, 60, len(group))
    return graph, node, dist, group


def oracle(graph, node, dist, group, limit):
    """Distances from each source (sources × nodes): scipy's from each seed, plus the seed's own
    distance, the least over the source's seeds, and nothing beyond ``limit``."""
    from_seed = csgraph.dijkstra(graph, directed=True, indices=node) + dist[:, None]
    out = np.full((group.max() + 1, graph.shape[0]), np.inf)
    np.minimum.at(out, group, from_seed)
    out[out > limit] = np.inf
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("limit", [80.0, 250.0, np.inf])
def test_nearest_is_the_closest_source(seed, limit):
    graph, node, dist, group = random_case(seed)
    expected = oracle(graph, node, dist, group, limit).min(axis=0)
    got = dijkstra.nearest(graph, node, dist, group, limit)
    assert np.array_equal(np.isfinite(got), np.isfinite(expected))
    assert got[np.isfinite(got)] == pytest.approx(expected[np.isfinite(expected)], abs=1e-9)
    assert 0 < np.isfinite(got).sum() < len(got)


@pytest.mark.parametrize("seed", range(6))
def test_each_lists_every_node_each_source_reaches(seed):
    graph, node, dist, group = random_case(seed)
    full = oracle(graph, node, dist, group, 150.0)
    src, reached, d = dijkstra.each(graph, node, dist, group, 150.0)
    got = np.full(full.shape, np.inf)
    got[src, reached] = d
    assert len(src) == np.isfinite(full).sum()  # each (source, node) once
    assert np.all(np.diff(src) >= 0)  # sources in order
    assert np.array_equal(np.isfinite(got), np.isfinite(full))
    assert got[np.isfinite(got)] == pytest.approx(full[np.isfinite(full)], abs=1e-9)


def test_one_way_edges_and_seeds_beyond_the_limit():
    g = sparse.csr_matrix(([10.0, 10.0], ([0, 1], [1, 2])), shape=(4, 4))  # 0 → 1 → 2; 3 alone
    assert dijkstra.nearest(g, [1], [0.0], [0]).tolist() == [np.inf, 0.0, 10.0, np.inf]
    assert dijkstra.nearest(g, [0, 3], [5.0, 50.0], [0, 1], limit=20).tolist() == [5.0, 15.0, np.inf, np.inf]
    assert dijkstra.nearest(g, [], [], [], limit=20).tolist() == [np.inf] * 4
    src, node, d = dijkstra.each(g, [], [], [], 20)
    assert len(src) == len(node) == len(d) == 0


def test_the_order_of_the_sources_does_not_matter():
    graph, node, dist, group = random_case(7, m=200)
    flipped = group.max() - group  # the same sources, numbered the other way round
    assert np.array_equal(dijkstra.nearest(graph, node, dist, group, 200.0),
                          dijkstra.nearest(graph, node, dist, flipped, 200.0))

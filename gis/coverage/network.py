"""The walking network: roads noded at their intersections, as a sparse graph, and points attached to it.

Roads are split wherever they cross or touch (``shapely.node``); the ends of the pieces are the
nodes (coordinates equal within ``snap`` metres are one node) and the pieces are the edges,
weighted by their length. A building or facility reaches the network at the nearest point of the
nearest edge (one ``STRtree.query_nearest``); the straight access distance is added to every walk.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> roads = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (200, 0)]), LineString([(100, -50), (100, 50)])])
>>> net = build_network(roads)
>>> len(net.xy), len(net.length), float(net.length.sum())
(5, 4, 300.0)
>>> a = attach(net, [Point(30, 10)])
>>> float(a.along[0] if net.u[a.edge[0]] == 0 else net.length[a.edge[0]] - a.along[0]), float(a.access[0])
(30.0, 10.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from gis.errors import InputError


@dataclass(frozen=True, eq=False)
class Network:
    """Nodes (``xy``) and undirected edges (``u`` → ``v`` along ``geoms``, ``length`` in metres)."""

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    geoms: np.ndarray
    road: np.ndarray  # index of the road each edge comes from

    @cached_property
    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.geoms)

    @cached_property
    def degree(self) -> np.ndarray:
        """Number of edges at each node (3 or more: an intersection)."""
        return np.bincount(np.r_[self.u, self.v], minlength=len(self.xy))

    @cached_property
    def _edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node pairs (low, high) with the length of the shortest of their parallel edges."""
        lo, hi = np.minimum(self.u, self.v), np.maximum(self.u, self.v)
        order = np.lexsort((self.length, hi, lo))
        lo, hi, w = lo[order], hi[order], self.length[order]
        first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
        # an edge of length 0 would be read as no edge: keep it with a tiny weight
        return lo[first], hi[first], np.maximum(w[first], 1e-9)

    @cached_property
    def csr(self) -> sparse.csr_matrix:
        """The edges as a symmetric sparse matrix (the shortest of parallel edges)."""
        lo, hi, w = self._edges
        n = len(self.xy)
        return sparse.csr_matrix((np.r_[w, w], (np.r_[lo, hi], np.r_[hi, lo])), shape=(n, n))

    def graph(self, to_u=(), to_v=(), edge=()) -> sparse.csr_matrix:
        """The network as a directed sparse matrix, plus one extra node per source (numbered from
        ``len(xy)``) with one-way edges to the ends of its ``edge`` of weights ``to_u`` and ``to_v``:
        walks start at a source but never pass through one."""
        base, m = self.csr, len(edge)
        n = base.shape[0] + m
        indptr = np.r_[base.indptr, base.nnz + 2 * np.arange(1, m + 1)]
        indices = np.r_[base.indices, np.stack([self.u[edge], self.v[edge]], 1).ravel()]
        data = np.r_[base.data, np.maximum(np.stack([to_u, to_v], 1).ravel(), 1e-9)]
        return sparse.csr_matrix((data, indices, indptr), shape=(n, n))


def build_network(roads: gpd.GeoDataFrame, *, snap: float = 0.01, connected: bool = True) -> Network:
    """The walking network of ``roads`` (LineStrings in a metric CRS).

    Parameters
    ----------
    roads : GeoDataFrame
        Road centre lines; crossings and touches become intersections.
    snap : float
        Line ends closer than this (metres, on a grid) are one node.
    connected : bool
        Raise ``InputError`` when the network falls apart in several pieces (a building on an
        island piece could never reach a facility on another); ``False`` keeps them all.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame({"code": ["R1", "R2"]},
    ...     geometry=[LineString([(0, 0), (100, 0)]), LineString([(0, 50), (100, 50)])])
    >>> build_network(roads)
    Traceback (most recent call last):
    ...
    gis.errors.InputError: layer roads: the road network falls apart in 2 unconnected pieces; roads of the smaller pieces: R2 (walks cannot cross between them: join them, or pass connected=False)
    """
    geoms = np.asarray(roads.geometry.values, dtype=object) if len(roads) else np.array([], dtype=object)
    lines = geoms[shapely.get_type_id(geoms) >= 0] if len(geoms) else geoms
    lines = lines[np.isin(shapely.get_type_id(lines), (1, 5)) & ~shapely.is_empty(lines)]
    if not len(lines):
        raise InputError("no roads (LineStrings) to build the walking network from", layer="roads")
    parts = shapely.get_parts(shapely.node(shapely.GeometryCollection(list(lines))))
    parts = parts[shapely.length(parts) > 0]
    ends = np.c_[shapely.get_coordinates(shapely.get_point(parts, 0)),
                 shapely.get_coordinates(shapely.get_point(parts, -1))].reshape(-1, 2)
    keys, node = np.unique(np.round(ends / snap).astype(np.int64), axis=0, return_inverse=True)
    node = node.ravel().reshape(-1, 2)
    xy = keys * snap
    loop = node[:, 0] == node[:, 1]
    parts, node = parts[~loop], node[~loop]
    # which road each piece comes from: the road whose line holds the piece's midpoint
    mid = shapely.line_interpolate_point(parts, 0.5, normalized=True)
    road_of = np.full(len(parts), -1)
    p, r = shapely.STRtree(geoms).query_nearest(mid, all_matches=False)
    road_of[p] = r
    net = Network(xy, node[:, 0], node[:, 1], shapely.length(parts), parts, road_of)
    if connected:
        n_parts, label = csgraph.connected_components(net.csr, directed=False)
        if n_parts > 1:
            main = np.bincount(label[net.u], weights=net.length).argmax()
            stray = np.unique(net.road[label[net.u] != main])
            codes = roads["code"].astype(str).to_numpy()[stray] if "code" in roads else stray.astype(str)
            shown = ", ".join(codes[:5]) + (f" and {len(codes) - 5} more" if len(codes) > 5 else "")
            raise InputError(f"the road network falls apart in {n_parts} unconnected pieces; roads of the smaller "
                             f"pieces: {shown} (walks cannot cross between them: join them, or pass "
                             "connected=False)", layer="roads")
    return net


@dataclass(frozen=True)
class Attachment:
    """Where points reach the network: ``edge``, distance ``along`` it from its ``u`` end, and the
    straight ``access`` distance from the point to that spot."""

    edge: np.ndarray
    along: np.ndarray
    access: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    def take(self, index) -> "Attachment":
        return Attachment(self.edge[index], self.along[index], self.access[index])


def attach(net: Network, geoms) -> Attachment:
    """Attach points (or polygons, by a point on their surface) to the nearest edge of ``net``.

    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> net = build_network(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)])]))
    >>> a = attach(net, [Point(40, 3), Point(120, 0)])
    >>> a.along.tolist(), a.access.tolist()
    ([40.0, 100.0], [3.0, 20.0])
    """
    pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    if not len(pts):
        return Attachment(np.zeros(0, int), np.zeros(0), np.zeros(0))
    (i, e), dist = net.tree.query_nearest(pts, all_matches=False, return_distance=True)
    edge = np.empty(len(pts), dtype=np.int64)
    access = np.empty(len(pts))
    edge[i], access[i] = e, dist
    return Attachment(edge, shapely.line_locate_point(net.geoms[edge], pts), access)


def at_nodes(net: Network, nodes) -> Attachment:
    """Attachments sitting exactly on ``nodes`` of ``net`` (at an end of one of their edges).

    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> net = build_network(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)])]))
    >>> a = at_nodes(net, [1, 0])
    >>> net.xy[[1, 0]].tolist(), [float(net.length[e] - s if net.v[e] == n else s) for e, s, n in zip(a.edge, a.along, [1, 0])]
    ([[100.0, 0.0], [0.0, 0.0]], [0.0, 0.0])
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    ends = np.r_[net.u, net.v]
    first = np.full(len(net.xy), -1)
    seen, where = np.unique(ends[::-1], return_index=True)
    first[seen] = len(ends) - 1 - where  # any edge at the node will do
    slot = first[nodes]
    edge = slot % len(net.u)
    along = np.where(slot >= len(net.u), net.length[edge], 0.0)
    return Attachment(edge, along, np.zeros(len(nodes)))

"""The walking network: roads noded where they meet, as a sparse graph, and points attached to it.

Roads meet where they cross or touch when both are at grade on the same layer. A bridge, a tunnel
or a road on another layer meets the others only where an end of one lies on the other (a ramp, a
portal): like OpenStreetMap's ways, which join only at shared nodes, an overpass never joins the
street beneath it. The meeting points and the road ends are the nodes (points within ``snap``
metres of each other are one), the pieces of road between them the edges, weighted by their
length. A building or facility reaches the network at the nearest point of the nearest edge whose
straight access line crosses no barrier (a river, a railway); the access distance is walked too.
Real road data often falls apart in pieces that do not connect (a clipped extract, a river whose
bridge is missing): ``Network.piece`` numbers them, 0 the largest.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> roads = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (200, 0)]), LineString([(100, -50), (100, 50)])])
>>> net = build_network(roads)
>>> len(net.xy), len(net.length), float(net.length.sum())
(5, 4, 300.0)
>>> a = attach(net, [Point(30, 10)])
>>> a.to_ends.ravel().tolist(), a.access.tolist()  # walking metres to the two ends of its edge
([40.0, 80.0], [10.0])
>>> over = build_network(roads.assign(bridge=["yes", None]))  # an overpass: no junction
>>> len(over.xy), over.piece.tolist()  # two pieces: the longer road is piece 0
(4, [0, 0, 1, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from gis.errors import InputError

#: Values of a ``bridge`` or ``tunnel`` column that mean "no" (any case); any other value
#: (OpenStreetMap's yes, viaduct, culvert…) puts the feature off the ground.
NO = ("", "no", "false", "0", "否", "none", "nan")


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
    def csr(self) -> sparse.csr_matrix:
        """The edges as a symmetric sparse matrix (the shortest of parallel edges)."""
        lo, hi = np.minimum(self.u, self.v), np.maximum(self.u, self.v)
        order = np.lexsort((self.length, hi, lo))
        lo, hi, w = lo[order], hi[order], self.length[order]
        first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
        # an edge of length 0 would be read as no edge: keep it with a tiny weight
        lo, hi, w = lo[first], hi[first], np.maximum(w[first], 1e-9)
        n = len(self.xy)
        return sparse.csr_matrix((np.r_[w, w], (np.r_[lo, hi], np.r_[hi, lo])), shape=(n, n))

    @cached_property
    def piece(self) -> np.ndarray:
        """The connected piece of each node: 0 the one with the most road length, then 1, 2… by
        decreasing length (ties: the piece met first). Walks never cross between pieces."""
        n, label = csgraph.connected_components(self.csr, directed=False)
        length = np.bincount(label[self.u], weights=self.length, minlength=n)
        rank = np.empty(n, dtype=np.int64)
        rank[np.lexsort((np.arange(n), -length))] = np.arange(n)
        return rank[label]


def off_ground(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Whether each feature is a bridge or a tunnel: a ``bridge`` or ``tunnel`` value not in ``NO``.

    >>> off_ground(gpd.GeoDataFrame({"bridge": ["yes", "no", None], "tunnel": [None, "culvert", ""]},
    ...                             geometry=[None] * 3)).tolist()
    [True, True, False]
    """
    out = np.zeros(len(gdf), dtype=bool)
    for col in ("bridge", "tunnel"):
        if col in gdf:
            s = gdf[col]
            out |= (s.fillna(0).to_numpy(float) != 0) if pd.api.types.is_numeric_dtype(s) else \
                s.notna().to_numpy() & ~s.astype(str).str.strip().str.lower().isin(NO).to_numpy()
    return out


def road_ids(roads: gpd.GeoDataFrame) -> np.ndarray:
    """The id of each road in findings and messages: its ``code``, else (no column, or no value)
    its row number from 0 as text.

    >>> road_ids(gpd.GeoDataFrame({"code": ["R1", None, " "]}, geometry=[None] * 3)).tolist()
    ['R1', '1', '2']
    """
    rows = np.arange(len(roads)).astype(str).astype(object)
    if "code" not in roads:
        return rows
    code = roads["code"].astype("string").str.strip()
    given = (code.notna() & (code != "")).to_numpy()
    return np.where(given, code.fillna("").to_numpy(dtype=object), rows)


def build_network(roads: gpd.GeoDataFrame, *, snap: float = 0.01, connected: bool = False) -> Network:
    """The walking network of ``roads`` (LineStrings in a metric CRS).

    Parameters
    ----------
    roads : GeoDataFrame
        Road centre lines, with optional columns ``layer`` (a number, 0 when absent: the ground;
        OpenStreetMap's ``layer`` tag), ``bridge`` and ``tunnel`` (any value but those in ``NO``:
        the road is a bridge or a tunnel). Two at-grade roads on one layer meet wherever they cross
        or touch; any other two only where an end of one lies on the other.
    snap : float
        Points of two roads closer than this (metres) meet.
    connected : bool
        Raise ``InputError`` when the network falls apart in several pieces (a building on one
        piece can never reach a facility on another); by default they are all kept (see
        ``Network.piece``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame({"code": ["R1", "R2"]},
    ...     geometry=[LineString([(0, 0), (100, 0)]), LineString([(0, 50), (100, 50)])])
    >>> build_network(roads).piece.tolist()
    [0, 0, 1, 1]
    >>> build_network(roads, connected=True)
    Traceback (most recent call last):
    ...
    gis.errors.InputError: layer roads: the road network falls apart in 2 unconnected pieces; roads of the smaller pieces: R2 (no walk crosses between pieces: join them, or drop --strict-network / connected=True to get a network_piece warning per piece)
    """
    geoms = np.asarray(roads.geometry.values, dtype=object) if len(roads) else np.array([], dtype=object)
    kept = np.flatnonzero(np.isin(shapely.get_type_id(geoms), (1, 5)))  # LineStrings, MultiLineStrings
    lines, part_of = shapely.get_parts(geoms[kept], return_index=True)
    lines, road = shapely.remove_repeated_points(lines), kept[part_of]
    keep = shapely.length(lines) > 0
    lines, road = lines[keep], road[keep]
    if not len(lines):
        raise InputError("no roads (LineStrings) to build the walking network from", layer="roads")
    layer = pd.to_numeric(roads["layer"], errors="coerce").fillna(0).to_numpy(float)[road] \
        if "layer" in roads else np.zeros(len(road))
    xy, u, v, parts, line = _node(lines, layer, ~off_ground(roads)[road], snap)
    net = Network(xy, u, v, shapely.length(parts), parts, road[line])
    if connected and net.piece.max() > 0:
        codes = road_ids(roads)[np.unique(net.road[net.piece[net.u] > 0])]
        shown = ", ".join(codes[:5]) + (f" and {len(codes) - 5} more" if len(codes) > 5 else "")
        raise InputError(f"the road network falls apart in {net.piece.max() + 1} unconnected pieces; roads of the "
                         f"smaller pieces: {shown} (no walk crosses between pieces: join them, or drop "
                         "--strict-network / connected=True to get a network_piece warning per piece)", layer="roads")
    return net


def _project(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the points ``x`` are nearest the segments ``a``→``b``: the fraction along, and the distance."""
    d = b - a
    t = np.clip(np.einsum("ij,ij->i", x - a, d) / np.einsum("ij,ij->i", d, d), 0, 1)
    return t, np.hypot(*(a + t[:, None] * d - x).T)


def _meet(xy, seg, line, end, layer, grade, snap, i, j):
    """Where the segments ``i`` and ``j`` (pairs with overlapping boxes) meet, if they join there.

    Returns the vertices ``w`` that lie within ``snap`` of a segment ``k`` (at fraction ``t`` along
    it; on its vertex ``at`` where ``on_vertex``), and the pairs that cross away from their vertices
    (fractions ``s1``, ``s2`` along each).
    """
    keep = (i < j) & (seg[j] != seg[i] + 1)  # each pair once; not two neighbours on a line
    i, j = i[keep], j[keep]
    flat = grade[line[seg[i]]] & grade[line[seg[j]]] & (layer[line[seg[i]]] == layer[line[seg[j]]])
    w, k = np.r_[seg[i], seg[i] + 1, seg[j], seg[j] + 1], np.r_[j, j, i, i]
    t, dist = _project(xy[w], xy[seg[k]], xy[seg[k] + 1])
    near = dist <= snap
    touched = near.reshape(4, -1).any(axis=0)
    w, k, t, pair_flat = w[near], k[near], t[near], np.tile(flat, 4)[near]
    d0, d1 = np.hypot(*(xy[w] - xy[seg[k]]).T), np.hypot(*(xy[w] - xy[seg[k] + 1]).T)
    at, on_vertex = np.where(d0 <= d1, seg[k], seg[k] + 1), np.minimum(d0, d1) <= snap
    join = pair_flat | end[w] | (on_vertex & end[at])
    a, b, c = xy[seg[i]], xy[seg[i] + 1] - xy[seg[i]], xy[seg[j] + 1] - xy[seg[j]]
    q, den = xy[seg[j]] - a, b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        s1, s2 = (q[:, 0] * c[:, 1] - q[:, 1] * c[:, 0]) / den, (q[:, 0] * b[:, 1] - q[:, 1] * b[:, 0]) / den
    cross = flat & ~touched & (den != 0) & (s1 >= 0) & (s1 <= 1) & (s2 >= 0) & (s2 <= 1)
    return w[join], k[join], t[join], at[join], on_vertex[join], i[cross], j[cross], s1[cross], s2[cross]


def _node(lines: np.ndarray, layer: np.ndarray, grade: np.ndarray, snap: float, chunk: int = 100_000):
    """Split ``lines`` (no repeated points) where they meet: node ``xy``, pieces ``u`` → ``v`` with their
    geometry, and the line each piece comes from.

    Two segments meet where a vertex of one lies within ``snap`` of the other, or where they cross
    (candidates: overlapping boxes, ``chunk`` segments per ``STRtree`` query). They join there when
    their lines are at grade on one layer, or the vertex is an end of a line. A vertex joining a
    segment between its vertices, and a crossing, split the segments; points that join are one
    node (connected components of the joins).
    """
    xy, line = shapely.get_coordinates(lines, return_index=True)
    n_v = len(xy)
    stop = np.r_[line[1:] != line[:-1], True]
    end = stop | np.r_[True, stop[:-1]]
    seg = np.flatnonzero(~stop)  # segment k runs from vertex seg[k] to seg[k] + 1
    lo, hi = np.minimum(xy[seg], xy[seg + 1]) - snap, np.maximum(xy[seg], xy[seg + 1]) + snap
    boxes = shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    tree = shapely.STRtree(boxes)
    found = [_meet(xy, seg, line, end, layer, grade, snap, i + c, j)
             for c in range(0, len(seg), chunk) for i, j in [tree.query(boxes[c:c + chunk])]]
    w, k, t, at, on_vertex, ci, cj, s1, s2 = (np.concatenate(f) for f in zip(*found))

    # split points: vertices joining a segment between its vertices, then crossings (on both segments)
    inside = ~on_vertex
    x = xy[seg[ci]] + s1[:, None] * (xy[seg[ci] + 1] - xy[seg[ci]])
    split_seg, split_t = np.r_[k[inside], ci, cj], np.r_[t[inside], s1, s2]
    sid = n_v + np.arange(len(split_seg))
    n_in, n_x = int(inside.sum()), len(ci)
    join_a = np.r_[w[on_vertex], w[inside], sid[n_in:n_in + n_x]]
    join_b = np.r_[at[on_vertex], sid[:n_in], sid[n_in + n_x:]]
    node = end.copy()
    node[w] = node[at[on_vertex]] = True

    # the vertices and split points in order along each line
    order = np.argsort(np.r_[np.arange(n_v, dtype=float), seg[split_seg] + split_t], kind="stable")
    pid = np.r_[np.arange(n_v), sid][order]
    pxy = np.r_[xy, xy[w[inside]], x, x][order]
    pline = np.r_[line, line[seg[split_seg]]][order]
    pnode = np.r_[node, np.ones(len(sid), dtype=bool)][order]

    def pieces():
        at_node = np.flatnonzero(pnode)
        first, last = at_node[:-1], at_node[1:]
        same = pline[first] == pline[last]
        return first[same], last[same]

    first, last = pieces()
    # pieces of no length (two points at one spot of a line) join their ends too
    flat = np.all(pxy[first] == pxy[last], axis=1) & (last - first == 1)
    ja, jb = np.r_[join_a, pid[first[flat]]], np.r_[join_b, pid[last[flat]]]
    n_p = n_v + len(sid)
    label = csgraph.connected_components(sparse.coo_matrix((np.ones(len(ja)), (ja, jb)), shape=(n_p, n_p)),
                                         directed=False)[1]
    # a loop (a ring road met once) gets a node half way: two edges, not dropped
    loop = (label[pid[first]] == label[pid[last]]) & (last - first >= 2)
    pnode[(first[loop] + last[loop]) // 2] = True
    first, last = pieces()
    lu, lv = label[pid[first]], label[pid[last]]
    first, last, lu, lv = first[lu != lv], last[lu != lv], lu[lu != lv], lv[lu != lv]

    counts = last - first + 1
    idx = np.repeat(first, counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    parts = shapely.linestrings(pxy[idx], indices=np.repeat(np.arange(len(first)), counts))
    _, where, uv = np.unique(np.r_[lu, lv], return_index=True, return_inverse=True)
    return pxy[np.r_[first, last][where]], uv[:len(first)], uv[len(first):], parts, pline[first]


@dataclass(frozen=True, eq=False)
class Attachment:
    """Where points reach the network: their ``edge``, the distance ``along`` it from its ``u`` end, the
    straight ``access`` distance to that spot, and for the walks the ``ends`` of the edge (2 × n: the
    ``u`` nodes, then the ``v`` nodes) with the walking distance ``to_ends`` from the point (access
    included)."""

    edge: np.ndarray
    along: np.ndarray
    access: np.ndarray
    ends: np.ndarray
    to_ends: np.ndarray

    @classmethod
    def at(cls, net: Network, edge, along, access=None) -> "Attachment":
        """Points at ``along`` metres on ``edge`` of ``net``, ``access`` metres away (default 0)."""
        edge, along = np.asarray(edge, dtype=np.int64), np.asarray(along, dtype=float)
        access = np.zeros(len(edge)) if access is None else np.asarray(access, dtype=float)
        return cls(edge, along, access, np.stack([net.u[edge], net.v[edge]]),
                   access + np.stack([along, net.length[edge] - along]))

    def __len__(self) -> int:
        return len(self.edge)

    def take(self, index) -> "Attachment":
        return Attachment(self.edge[index], self.along[index], self.access[index], self.ends[:, index],
                          self.to_ends[:, index])


def attach(net: Network, geoms, barriers=None) -> Attachment:
    """Attach points (or polygons, by a point on their surface) to the nearest edge of ``net`` whose
    access line crosses none of the ``barriers`` (lines or polygons).

    When every edge is across a barrier (a point on an island without roads) the nearest one is kept.

    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> net = build_network(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)]),
    ...                                                LineString([(0, 20), (100, 20)]),
    ...                                                LineString([(0, 0), (0, 20)])]))
    >>> a = attach(net, [Point(40, 3), Point(120, 0), Point(50, 15)])
    >>> a.along.tolist(), a.access.tolist()
    ([40.0, 100.0, 50.0], [3.0, 20.0, 5.0])
    >>> river = [LineString([(-10, 12), (110, 12)])]
    >>> attach(net, [Point(50, 15), Point(50, 10)], river).access.tolist()  # each to its own bank
    [5.0, 10.0]
    """
    pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    edge, access = np.zeros(len(pts), dtype=np.int64), np.zeros(len(pts))
    if len(pts):
        (i, e), dist = net.tree.query_nearest(pts, all_matches=False, return_distance=True)
        edge[i], access[i] = e, dist
    if len(pts) and barriers is not None and len(barriers):
        _beside(net, pts, edge, access, shapely.STRtree(np.asarray(barriers, dtype=object)))
    return Attachment.at(net, edge, shapely.line_locate_point(net.geoms[edge], pts), access)


def _beside(net: Network, pts: np.ndarray, edge: np.ndarray, access: np.ndarray, walls: shapely.STRtree) -> None:
    """Move the attachments (``edge``, ``access``, in place) whose access line crosses a wall to the
    nearest edge that can be reached without crossing one: edges within a radius that grows
    fourfold until one is found or it spans the whole network."""
    todo = np.unique(walls.query(shapely.shortest_line(pts, net.geoms[edge]), predicate="intersects")[0])
    bounds = shapely.total_bounds(np.r_[net.geoms, pts])
    span = np.hypot(bounds[2] - bounds[0], bounds[3] - bounds[1])
    radius = 2 * access[todo] + 50
    while len(todo):
        p, e = net.tree.query(pts[todo], predicate="dwithin", distance=radius)
        lines = shapely.shortest_line(pts[todo[p]], net.geoms[e])
        d = shapely.length(lines)
        d[walls.query(lines, predicate="intersects")[0]] = np.inf
        order = np.lexsort((d, p))
        best = order[np.r_[True, p[order][1:] != p[order][:-1]]]
        best = best[np.isfinite(d[best])]
        edge[todo[p[best]]], access[todo[p[best]]] = e[best], d[best]
        left = np.ones(len(todo), dtype=bool)
        left[p[best]] = False
        left &= radius < span
        todo, radius = todo[left], 4 * radius[left]


def at_nodes(net: Network, nodes) -> Attachment:
    """Attachments sitting exactly on ``nodes`` of ``net`` (at an end of one of their edges).

    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> net = build_network(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)])]))
    >>> a = at_nodes(net, [1, 0])
    >>> net.xy[[1, 0]].tolist(), a.ends[a.to_ends.argmin(axis=0), [0, 1]].tolist()
    ([[100.0, 0.0], [0.0, 0.0]], [1, 0])
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    ends = np.r_[net.u, net.v]
    first = np.full(len(net.xy), -1)
    seen, where = np.unique(ends[::-1], return_index=True)
    first[seen] = len(ends) - 1 - where  # any edge at the node will do
    slot = first[nodes]
    edge = slot % len(net.u)
    return Attachment.at(net, edge, np.where(slot >= len(net.u), net.length[edge], 0.0))

"""Camera view-sheds (雪亮工程): which intersections and residential roads no camera sees.

A camera sees a disc of ``radius`` metres around it, or, when it has a ``direction`` (degrees
clockwise from north) and an ``angle`` (field of view, degrees), the sector of that disc. 002 asks
for full coverage of residential areas and every intersection: an intersection (a node where three
or more road pieces meet) is uncovered when no view holds it; a residential road (a road next to
which a building with households reaches the network) is uncovered where some of it lies outside
every view (more than ``tolerance`` metres).

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> from gis.coverage.network import build_network
>>> roads = gpd.GeoDataFrame({"code": ["R1", "R2"]}, geometry=[LineString([(0, 0), (200, 0)]),
...                                                            LineString([(100, -100), (100, 100)])])
>>> cams = gpd.GeoDataFrame({"direction": [90.0], "angle": [60.0]}, geometry=[Point(-10, 0)])
>>> net = build_network(roads)
>>> seen = view_sheds(cams, 50)
>>> int(intersections_seen(net, seen).sum()), round(float(seen.area[0]), 0)
(0, 1309.0)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.coverage.network import Network


def view_sheds(cameras: gpd.GeoDataFrame, radius: float, arc_points: int = 24) -> gpd.GeoSeries:
    """The area each camera sees: a disc, or a sector where ``direction`` and ``angle`` are given."""
    pts = np.asarray(cameras.geometry.values, dtype=object)
    xy = shapely.get_coordinates(shapely.point_on_surface(pts))
    out = shapely.buffer(shapely.points(xy), radius, quad_segs=arc_points // 4)
    if {"direction", "angle"} <= set(cameras.columns):
        d = cameras["direction"].to_numpy(float)
        a = cameras["angle"].to_numpy(float)
        sector = np.isfinite(d) & np.isfinite(a) & (a < 360)
        if sector.any():
            t = np.linspace(-0.5, 0.5, arc_points + 1)
            bearing = np.radians(d[sector, None] + t[None, :] * a[sector, None])
            c = xy[sector]
            arc = np.stack([c[:, 0, None] + radius * np.sin(bearing), c[:, 1, None] + radius * np.cos(bearing)], -1)
            ring = np.concatenate([c[:, None, :], arc, c[:, None, :]], axis=1)
            out[sector] = shapely.polygons(ring)
    return gpd.GeoSeries(out, crs=cameras.crs)


def intersections_seen(net: Network, seen: gpd.GeoSeries) -> np.ndarray:
    """For each intersection of ``net`` (node of degree ≥ 3, in node order), whether a view holds it."""
    nodes = np.flatnonzero(net.degree >= 3)
    hit = np.zeros(len(nodes), dtype=bool)
    if len(seen):
        i, _ = shapely.STRtree(np.asarray(seen.values, dtype=object)).query(shapely.points(net.xy[nodes]),
                                                                            predicate="intersects")
        hit[i] = True
    return hit


def unseen_length(net: Network, edges: np.ndarray, seen: gpd.GeoSeries) -> np.ndarray:
    """Length of each of ``edges`` (indices into ``net``) that no view covers."""
    geoms = net.geoms[edges]
    if not len(seen):
        return shapely.length(geoms)
    views = np.asarray(seen.values, dtype=object)
    e, v = shapely.STRtree(views).query(geoms, predicate="intersects")
    covered = np.zeros(len(edges))
    if len(e):
        # the views touching each edge, united per edge, so overlapping views count once
        groups = pd.Series(v).groupby(e).agg(list)
        unions = np.array([shapely.union_all(views[g]) for g in groups], dtype=object)
        covered[groups.index.to_numpy()] = shapely.length(shapely.intersection(geoms[groups.index.to_numpy()], unions))
    return shapely.length(geoms) - covered


def camera_findings(net: Network, cameras: gpd.GeoDataFrame, radius: float, residential_edges: np.ndarray,
                    road_codes: np.ndarray, *, rule: str = "雪亮工程", source: str = "002",
                    tolerance: float = 1.0) -> tuple[list[dict], dict]:
    """``uncovered`` finding rows for unseen intersections and residential roads, and a summary.

    ``residential_edges`` are edge indices of ``net`` that buildings with households reach;
    ``road_codes`` the code of each road of the layer ``net`` was built from.
    """
    seen = view_sheds(cameras, radius)
    rows = []
    nodes = np.flatnonzero(net.degree >= 3)
    hit = intersections_seen(net, seen)
    at = pd.DataFrame({"node": np.r_[net.u, net.v], "road": np.r_[net.road, net.road]})
    names = at[at["node"].isin(nodes[~hit])].groupby("node")["road"].agg(lambda r: sorted(set(road_codes[r])))
    for n in nodes[~hit]:
        codes = names[n]
        rows.append({"code": "uncovered", "layer": "roads", "ids": codes, "value": 0.0, "limit": 1.0,
                     "rule": rule, "source": source, "geometry": shapely.Point(net.xy[n]),
                     "message": f"路口（{'、'.join(codes)} 交汇处）不在视频监控范围内"})
    edges = np.unique(residential_edges)
    unseen = unseen_length(net, edges, seen)
    per_road = pd.DataFrame({"road": net.road[edges], "unseen": unseen, "length": net.length[edges],
                             "edge": edges}).groupby("road").agg(unseen=("unseen", "sum"), length=("length", "sum"),
                                                                 edges=("edge", list))
    bad = per_road[per_road["unseen"] > tolerance]
    for road, r in bad.iterrows():
        share = 1 - r["unseen"] / r["length"]
        rows.append({"code": "uncovered", "layer": "roads", "ids": [road_codes[road]], "value": share, "limit": 1.0,
                     "rule": rule, "source": source, "geometry": shapely.union_all(net.geoms[r["edges"]]),
                     "message": f"居民区道路 {road_codes[road]} 有 {r['unseen']:,.0f} m（{1 - share:.0%}）"
                                "不在视频监控范围内"})
    summary = {"intersections": int(len(nodes)), "intersections_seen": int(hit.sum()),
               "residential_road_m": float(per_road["length"].sum()),
               "residential_road_seen_m": float((per_road["length"] - per_road["unseen"]).sum())}
    return rows, summary

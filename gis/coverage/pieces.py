"""Pieces of the road network that do not connect to the largest one, as ``network_piece`` findings.

Real road data falls apart: a clipped extract leaves stubs at its edge, a river whose bridge is
missing cuts a quarter off. No walk crosses between pieces, so a building whose piece holds no
facility of a kind is uncovered for it. Each piece but the largest (``Network.piece`` 0, the most
road length) is one warning on layer ``roads``: ``ids`` its roads, ``value`` the households of the
buildings attached to it, its geometry the piece's road (a MultiLineString), cited to 人无遗漏 —
the user sees where the data, or the city, is cut.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> from gis.coverage.network import attach, build_network
>>> from gis.rules import load_rules
>>> roads = gpd.GeoDataFrame({"code": ["R1", "R2", "R3"]}, geometry=[
...     LineString([(0, 0), (1000, 0)]), LineString([(0, 500), (300, 500)]), LineString([(300, 500), (300, 700)])])
>>> net = build_network(roads)
>>> rows = piece_findings(net, roads, attach(net, [Point(10, 5), Point(100, 505), Point(305, 650)]),
...                       np.array([40.0, 25.0, 12.0]), load_rules("national"))
>>> [(r["ids"], r["value"], r["geometry"].geom_type) for r in rows]
[(['R2', 'R3'], 37.0, 'MultiLineString')]
>>> rows[0]["message"]
'道路网第 2 块与主网不相连：2 条道路，2 栋建筑，37 户'
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gis.coverage.network import Attachment, Network, road_ids
from gis.findings import finding
from gis.rules import RuleSet

#: The principle a cut-off piece endangers: its households reach no facility of the main network.
RULE = "人无遗漏"


def piece_findings(net: Network, roads: gpd.GeoDataFrame, buildings: Attachment, households: np.ndarray,
                   rules: RuleSet) -> list[dict]:
    """``network_piece`` finding rows, one per piece of ``net`` apart from the largest.

    Parameters
    ----------
    net : Network
        Built from ``roads`` (``net.road`` indexes its rows).
    roads : GeoDataFrame
        The roads; ``ids`` are their ``code`` (else row numbers, see ``road_ids``).
    buildings : Attachment
        Where the buildings reach ``net``; each belongs to the piece of its edge.
    households : ndarray
        Households of each building.
    rules : RuleSet
        Gives the source of 人无遗漏.

    Returns
    -------
    list of dict
        Rows in the columns of ``gis.findings.COLUMNS`` (geometry in ``net``'s CRS), pieces in order
        (the message numbers them from 2; the main network is 1).
    """
    edge_piece = net.piece[net.u]
    n = int(edge_piece.max()) + 1
    if n == 1:
        return []
    b_piece = edge_piece[buildings.edge]
    n_buildings = np.bincount(b_piece, minlength=n)
    hh = np.bincount(b_piece, weights=np.asarray(households, dtype=float), minlength=n)
    pairs = np.unique(np.c_[edge_piece, net.road], axis=0)  # (piece, road), roads in row order
    ids = road_ids(roads)
    split = np.searchsorted(pairs[:, 0], np.arange(1, n))
    order = np.argsort(edge_piece, kind="stable")
    geoms = shapely.multilinestrings(net.geoms[order], indices=edge_piece[order])
    source = rules.principle(RULE)[0]
    return [finding("network_piece", "roads", ids[r].tolist(), geoms[p],
                    f"道路网第 {p + 1} 块与主网不相连：{len(r):,} 条道路，{n_buildings[p]:,} 栋建筑，{hh[p]:,.0f} 户",
                    rule=RULE, source=source, value=float(hh[p]))
            for p, r in enumerate(np.split(pairs[:, 1], split)) if p > 0]

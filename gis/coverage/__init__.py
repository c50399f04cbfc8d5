"""``coverage``: facility standards per community and street, walking coverage of buildings, siting.

For each facility kind with a walking rule (``walk_minutes`` in the rule set, distances of
GB 50180-2018 life circles in ``[walking]``), every building gets its walking distance along the
road network to the nearest facility of that kind; buildings farther than the rule's distance are
``uncovered`` findings, and ``site=k`` suggests ``k`` new sites among the network's nodes that
cover the most uncovered households. Standards (counts, sizes, floor area per households) give
``facility_shortfall`` findings; cameras give ``uncovered`` intersections and residential roads.
A road network in several unconnected pieces is walked as it is (a building whose piece holds no
facility of a kind is uncovered for it); each piece but the largest is a ``network_piece`` warning
(``gis.coverage.pieces``), or with ``connected=True`` the network is refused.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import LineString, Point, box
>>> from gis.model import City
>>> roads = gpd.GeoDataFrame({"code": ["R1"]}, geometry=[LineString([(0, 0), (2000, 0)])], crs=3857)
>>> b = gpd.GeoDataFrame({"code": ["B1", "B2"], "households": [80, 120], "residents": [200, 300]},
...                      geometry=[Point(200, 10), Point(1500, 10)], crs=3857)
>>> f = gpd.GeoDataFrame({"code": ["F1"], "kind": ["elderly_station"], "floor_area_m2": [300.0]},
...                      geometry=[Point(0, 0)], crs=3857)
>>> c = gpd.GeoDataFrame({"code": ["C1"], "name": ["沿江社区"]}, geometry=[box(-10, -50, 2010, 50)], crs=3857)
>>> cov = coverage(City({"roads": roads, "buildings": b, "facilities": f, "communities": c}), site=1)
>>> cov.table[["community", "kind", "households", "covered_households", "share"]].values.tolist()
[['C1', 'elderly_station', 200, 80, 0.4], ['C1', 'service_centre', 200, 0, 0.0]]
>>> cov.sites[["kind", "households_gained"]].values.tolist()
[['elderly_station', 120.0], ['service_centre', 120.0]]
>>> cov.findings["message"].iloc[0]
'建筑 B2（120 户）步行 300 m 内无社区养老服务站'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import findings as fnd
from gis.coverage import cameras, pieces, siting, standards, walk
from gis.coverage.kinds import KINDS, known_kinds, label
from gis.coverage.network import Attachment, Network, at_nodes, attach, build_network, off_ground, road_ids
from gis.errors import InputError
from gis.model import City
from gis.rules import DEFAULT_RULES, RuleSet, load_rules

__all__ = ["coverage", "Coverage", "radii", "suggest", "build_network", "attach", "at_nodes", "KINDS",
           "Network", "Attachment", "position", "standards", "walk", "siting", "cameras", "pieces"]


@dataclass
class Coverage:
    """The result of :func:`coverage` (geometries in the city's CRS).

    Attributes
    ----------
    findings : GeoDataFrame
        ``facility_shortfall``, ``uncovered`` and ``network_piece`` findings, with ``attrs["summary"]``.
    table : DataFrame
        Per community and kind: ``radius_m``, ``buildings``, ``households``, ``covered_households``,
        ``share`` (of households), ``residents``, ``covered_residents``, ``uncovered_buildings``.
    distance : DataFrame
        Per building (rows as in the buildings layer) and kind: walking metres to the nearest
        facility of that kind (``inf`` beyond the kind's distance).
    sites : GeoDataFrame
        Suggested sites: ``kind``, ``rank``, ``households_gained``, ``residents_gained`` (each site's newly covered
        households and residents, in order of choice).
    radius : dict
        Walking distance (m) used per kind.
    cameras : dict
        Intersections and residential road length seen by cameras.
    network : Network
        The walking network (metric CRS).
    node_distance : dict
        Per kind, walking metres from each network node to the nearest facility (``inf`` beyond).
    """

    findings: gpd.GeoDataFrame
    table: pd.DataFrame
    distance: pd.DataFrame
    sites: gpd.GeoDataFrame
    radius: dict
    cameras: dict
    network: Network
    node_distance: dict = field(repr=False, default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """Per kind over the whole city: households, covered households and their share."""
        t = self.table.groupby("kind", sort=False)[["households", "covered_households", "residents",
                                                    "covered_residents", "uncovered_buildings"]].sum()
        t.insert(0, "radius_m", pd.Series(self.radius))
        t["share"] = np.round(t["covered_households"] / t["households"].where(t["households"] > 0), 4)
        return t


def radii(rules: RuleSet, kinds=None, minutes: int | None = None) -> dict[str, float]:
    """Walking distance (m) per facility kind: from the rule set's walking rules, or ``minutes``.

    >>> radii(load_rules("national"))
    {'elderly_station': 300.0, 'service_centre': 1000.0}
    >>> radii(load_rules("national"), ["police_room"], minutes=10)
    {'police_room': 500.0}
    """
    if minutes is not None and minutes not in rules.walking:
        raise InputError(f"no walking distance for {minutes} minutes in rule set {rules.name} "
                         f"(has: {', '.join(map(str, sorted(rules.walking))) or 'none'})")
    ruled: dict[str, float] = {}
    for r in rules.facilities:  # the rule set's own rules come before those it extends
        for k in r.kinds:
            if r.walk_minutes is not None and k not in ruled:
                ruled[k] = rules.walking[r.walk_minutes]
    wanted = list(ruled) if kinds is None else list(kinds)
    for k in wanted:
        if k not in KINDS and k not in ruled:
            raise InputError(f"unknown facility kind {k!r} (known: {', '.join(sorted(set(KINDS) | set(ruled)))})")
        if k not in ruled and minutes is None:
            raise InputError(f"rule set {rules.name} has no walking rule for {k}; give the minutes")
    return {k: rules.walking[minutes] if minutes is not None else ruled[k] for k in wanted}


def suggest(net: Network, buildings: Attachment, weight: np.ndarray, facilities: Attachment, radius: float,
            k: int | None, *, candidates: Attachment | None = None, exact: bool = False):
    """New sites for one kind: ``k`` maximising newly covered ``weight`` (``None``: cover all).

    Candidates, unless given, are the network nodes within ``radius`` of an uncovered building
    with weight, and the spots on the road in front of those buildings.

    Returns
    -------
    chosen : list of int, gains : list of float, candidates : Attachment
        Indices into ``candidates`` in order of choice and the weight each newly covers.
    """
    d = walk.nearest(net, facilities, buildings, radius)
    open_ = (d > radius) & (weight > 0)
    demand = buildings.take(open_)
    if candidates is None:
        near = walk.node_distance(net, demand, radius)
        nodes = at_nodes(net, np.flatnonzero(np.isfinite(near)))
        # the road in front of the uncovered buildings, one spot per 10 m of an edge
        _, one = np.unique(np.c_[demand.edge, np.round(demand.along / 10)], axis=0, return_index=True)
        candidates = Attachment.at(net, np.r_[nodes.edge, demand.edge[one]], np.r_[nodes.along, demand.along[one]])
    if not len(candidates) or not open_.any():
        return [], [], candidates
    reach = walk.reach(net, candidates, demand, radius)
    pick = siting.exact if exact else siting.greedy
    chosen, gains = pick(reach, weight[open_], k)
    return chosen, gains, candidates


def position(net: Network, spots: Attachment) -> np.ndarray:
    """The points on the network where ``spots`` attach."""
    return shapely.line_interpolate_point(net.geoms[spots.edge], spots.along)


def coverage(city: City, rules: str | RuleSet = DEFAULT_RULES, *, kinds=None, minutes: int | None = None,
             site: int = 0, exact: bool = False, connected: bool = False) -> Coverage:
    """Standards, walking coverage and (with ``site=k``) ``k`` suggested new sites per kind.

    Parameters
    ----------
    city : City
        With ``roads`` and ``buildings`` (``households``; ``residents`` optional); ``facilities``,
        ``communities``, ``streets`` and ``barriers`` optional. Roads on bridges, in tunnels or on
        other layers join the others only at their ends (see ``build_network``); buildings and
        facilities reach the roads without crossing a barrier (rivers, railways; bridges and tunnels
        among them are no barrier).
    rules : str or RuleSet
        Its ``[[facilities]]`` and ``[walking]`` sections.
    kinds : list of str, optional
        Facility kinds to report (default: every kind with a walking rule, and cameras).
    minutes : int, optional
        Walk this many minutes (5, 10, 15) instead of each rule's own.
    site : int
        Suggest this many new sites per kind with uncovered households.
    exact : bool
        Solve the siting exactly (``scipy.optimize.milp``) instead of greedily; small cities only.
    connected : bool
        Refuse a road network in several unconnected pieces (``InputError``). By default it is
        walked as it is: a building whose piece holds no facility of a kind is uncovered for it, and
        each piece but the largest (most road length) is a ``network_piece`` warning on layer
        ``roads`` (``ids`` its roads, ``value`` the households attached to it).
    """
    rules = load_rules(rules)
    for layer in ("roads", "buildings"):
        if layer not in city or not len(city[layer]):
            raise InputError(f"coverage needs a non-empty {layer} layer", file=city.source, layer=layer)
    if "households" not in city["buildings"]:
        raise InputError("buildings have no 'households' column", file=city.source, layer="buildings")
    crs = city.metric_crs
    b = city.metric("buildings")
    empty = b.geometry.isna() | b.geometry.is_empty
    if empty.any():
        raise InputError("building without geometry", file=city.source, layer="buildings",
                         feature=b["code"].iloc[int(np.argmax(empty))] if "code" in b else int(np.argmax(empty)))
    fac = city.metric("facilities") if "facilities" in city else gpd.GeoDataFrame({"kind": []}, geometry=[], crs=crs)
    fac = fac[fac.geometry.notna() & ~fac.geometry.is_empty]
    kind = known_kinds(fac, rules)
    radius = radii(rules, [k for k in kinds if k != "camera"] if kinds is not None else None, minutes)
    roads = city.metric("roads")
    try:
        net = build_network(roads, connected=connected)
    except InputError as e:
        raise InputError(e.problem, file=city.source, layer="roads") from None
    walls = city.metric("barriers") if "barriers" in city else gpd.GeoDataFrame(geometry=[], crs=crs)
    walls = walls.geometry.values[walls.geometry.notna().to_numpy() & ~off_ground(walls)]
    b_att, f_att = attach(net, b.geometry.values, walls), attach(net, fac.geometry.values, walls)
    hh = b["households"].fillna(0).to_numpy(float)
    res = b["residents"].fillna(0).to_numpy(float) if "residents" in b else np.zeros(len(b))
    codes = b["code"].astype(str).to_numpy() if "code" in b else np.arange(1, len(b) + 1).astype(str)
    comm = city.metric("communities") if "communities" in city else None
    owner = standards.within(b.geometry.values, comm) if comm is not None else np.full(len(b), -1)
    names = comm["code"].astype(str).to_numpy() if comm is not None and "code" in comm else np.array([""])
    comm_code = np.where(owner >= 0, names[np.minimum(np.maximum(owner, 0), len(names) - 1)], "")

    geoms = b.geometry.values
    rows, uncovered, tables, dist, node_dist, sites = [], [], [], {}, {}, []
    for k, r in radius.items():
        mine = np.flatnonzero(kind == k)
        nodes = walk.node_distance(net, f_att.take(mine), r)
        d = walk.nearest(net, f_att.take(mine), b_att, r, nodes=nodes)
        node_dist[k] = nodes
        dist[k] = d
        ok = d <= r
        tables.append(pd.DataFrame({"community": comm_code, "kind": k, "radius_m": r, "buildings": 1,
                                    "households": hh, "covered_households": hh * ok, "residents": res,
                                    "covered_residents": res * ok, "uncovered_buildings": (~ok & (hh > 0))}))
        rule = next(x for x in rules.facilities if k in x.kinds and x.walk_minutes is not None) \
            if minutes is None else None
        out = np.flatnonzero(~ok & (hh > 0))
        uncovered.append(pd.DataFrame({
            "code": "uncovered", "layer": "buildings", "ids": [[c] for c in codes[out]],
            "parent": np.where(comm_code[out] != "", comm_code[out], None), "value": np.nan, "limit": r,
            "rule": rule.rule if rule else f"{minutes}分钟步行",
            "source": rule.source if rule else rules.walking_source,
            "message": [f"建筑 {c}（{h:,.0f} 户）步行 {r:,.0f} m 内无{label(k)}" for c, h in zip(codes[out], hh[out])],
            "geometry": geoms[out]}))
        if site:
            chosen, gains, cand = suggest(net, b_att, hh, f_att.take(mine), r, site, exact=exact)
            if chosen:
                newly = walk.reach(net, cand.take(chosen), b_att, r).toarray() & ~ok[None, :]
                first = np.cumsum(newly, axis=0) == 1
                gained_res = (first & newly) @ res
                sites.append(gpd.GeoDataFrame(
                    {"kind": k, "rank": np.arange(1, len(chosen) + 1), "households_gained": gains,
                     "residents_gained": gained_res},
                    geometry=position(net, cand.take(chosen)), crs=crs))

    rows += pieces.piece_findings(net, roads, b_att, hh, rules)
    cam_summary = {}
    cam_rules = [x for x in rules.facilities if "camera" in x.kinds and x.view_radius_m]
    if cam_rules and (kinds is None or "camera" in kinds):
        cam_rows, cam_summary = cameras.camera_findings(
            net, fac[kind == "camera"], cam_rules[0].view_radius_m, b_att.edge[hh > 0], road_ids(roads),
            rule=cam_rules[0].rule, source=cam_rules[0].source)
        rows += cam_rows
    for level, parent in (("communities", "street_code"), ("streets", "district_code")):
        if level in city:
            rows += standards.shortfalls(rules, city.metric(level), fac, b, level, parent)

    found = fnd.concat([fnd.findings(f, crs=crs) for f in uncovered] + [fnd.findings(rows, crs=crs)], crs=crs)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=["community", "kind", "radius_m", "buildings", "households", "covered_households", "residents",
                 "covered_residents", "uncovered_buildings"])
    table = table.groupby(["community", "kind"], sort=True, as_index=False).agg(
        {"radius_m": "first", "buildings": "sum", "households": "sum", "covered_households": "sum",
         "residents": "sum", "covered_residents": "sum", "uncovered_buildings": "sum"})
    for c in ("households", "covered_households", "residents", "covered_residents"):
        table[c] = table[c].astype(np.int64)
    table["share"] = np.round(table["covered_households"] / table["households"].where(table["households"] > 0), 4)
    sites_gdf = pd.concat(sites, ignore_index=True) if sites else gpd.GeoDataFrame(
        {"kind": [], "rank": [], "households_gained": [], "residents_gained": []}, geometry=[], crs=crs)
    back = (lambda g: g.to_crs(city.crs)) if city.crs is not None and not city.crs.equals(crs) else (lambda g: g)
    found = fnd.concat([back(found)] if len(found) else [], crs=city.crs)
    counts = {lyr: len(city[lyr]) for lyr in ("communities", "streets", "buildings", "roads") if lyr in city}
    found.attrs["summary"] = fnd.summary(found, counts, rules.name)
    distance = pd.DataFrame(dist, index=b.index)
    distance.insert(0, "code", codes)
    return Coverage(found, table, distance, back(gpd.GeoDataFrame(sites_gdf, geometry="geometry", crs=crs)),
                    radius, cam_summary, net, node_dist)

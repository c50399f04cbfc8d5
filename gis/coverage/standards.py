"""Facility standards per community and street: counts, sizes and floor area against the rule set.

Each ``[[facilities]]`` rule of the rule set with ``min_count``, ``min_floor_area_m2``,
``per_100_households_m2`` or ``per_estate`` is checked for every unit of its level; a unit short of
it is a ``facility_shortfall`` finding (value, limit, shortfall in the message, source).

A facility belongs to the community its ``community_code`` names (else to the community it lies
in) and to the street it lies in. A unit's households are its declared ``households`` (else the
sum of the buildings inside it). An estate's rooms (``per_estate``, 003 §17) are due in the
community of its largest building.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box, Point
>>> from gis.rules import load_rules
>>> comms = gpd.GeoDataFrame({"code": ["C1"], "name": ["滨江社区"], "households": [1500]},
...                          geometry=[box(0, 0, 500, 500)], crs=3857)
>>> fac = gpd.GeoDataFrame({"code": ["F1"], "kind": ["service_centre"], "floor_area_m2": [420.0],
...                         "community_code": ["C1"]}, geometry=[Point(10, 10)], crs=3857)
>>> rows = shortfalls(load_rules("tiemenguan-2018"), comms, fac)
>>> [(r["rule"], r["value"], r["limit"]) for r in rows]
[('社区综合服务中心面积', 420.0, 1000.0), ('每百户服务设施面积', 420.0, 450.0)]
>>> rows[1]["message"]
'社区 滨江社区(C1)：社区综合服务中心面积 420.0 m²，按每百户 30 m²（1,500 户）应不少于 450.0 m²，缺口 30.0 m²'
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.coverage.kinds import label
from gis.findings import finding
from gis.model import LABELS
from gis.rules import RuleSet


def within(geoms, units: gpd.GeoDataFrame) -> np.ndarray:
    """Index of the unit holding a point on the surface of each geometry (-1 if none)."""
    pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    out = np.full(len(pts), -1)
    if len(pts) and len(units):
        p, u = shapely.STRtree(np.asarray(units.geometry.values, dtype=object)).query(pts, predicate="within")
        out[p[::-1]] = u[::-1]  # the first unit when units overlap
    return out


def owners(facilities: gpd.GeoDataFrame, units: gpd.GeoDataFrame, level: str) -> np.ndarray:
    """Index of the unit each facility belongs to: its declared community, else where it lies."""
    where = within(facilities.geometry.values, units)
    if level == "communities" and "community_code" in facilities and "code" in units:
        pos = pd.Series(np.arange(len(units)), index=units["code"].astype(str).to_numpy())
        pos = pos[~pos.index.duplicated()]
        declared = facilities["community_code"].astype("string").map(pos)
        where = np.where(declared.notna(), declared.fillna(-1).to_numpy(int), where)
    return where


def households(units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None) -> np.ndarray:
    """Declared households of each unit, else the sum of the buildings inside it."""
    declared = units["households"].to_numpy(float) if "households" in units else np.full(len(units), np.nan)
    if buildings is not None and np.isnan(declared).any():
        own = within(buildings.geometry.values, units)
        ok = own >= 0
        summed = np.bincount(own[ok], weights=buildings["households"].to_numpy(float)[ok], minlength=len(units))
        declared = np.where(np.isnan(declared), summed, declared)
    return np.nan_to_num(declared)


def estate_rooms(spec: dict, floor_area: np.ndarray) -> np.ndarray:
    """Office and service rooms due for estates of ``floor_area`` m² (003 §17: 150 m² up to
    20,000 m², 50 m² more for each further full 10,000 m²).

    >>> estate_rooms({"base_m2": 150, "up_to_m2": 20000, "step_m2": 50, "every_m2": 10000},
    ...              np.array([8000, 20000, 29999, 30000, 45000])).tolist()
    [150.0, 150.0, 150.0, 200.0, 250.0]
    """
    steps = np.floor(np.maximum(np.asarray(floor_area, float) - spec["up_to_m2"], 0) / spec["every_m2"])
    return spec["base_m2"] + spec["step_m2"] * steps


def _estates_due(spec: dict, units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None) -> np.ndarray:
    if buildings is None or "estate" not in buildings or "floor_area_m2" not in buildings:
        return np.zeros(len(units))
    b = pd.DataFrame({"estate": buildings["estate"].astype("string").to_numpy(),
                      "area": buildings["floor_area_m2"].to_numpy(float),
                      "unit": within(buildings.geometry.values, units)})
    b = b[b["estate"].notna() & (b["estate"] != "")]
    e = b.sort_values("area", ascending=False).groupby("estate").agg(area=("area", "sum"), unit=("unit", "first"))
    e = e[e["unit"] >= 0]
    return np.bincount(e["unit"].to_numpy(int), weights=estate_rooms(spec, e["area"].to_numpy()), minlength=len(units))


def _labels(units: gpd.GeoDataFrame, level: str) -> np.ndarray:
    code = units["code"].astype(str).to_numpy() if "code" in units else np.arange(len(units)).astype(str)
    name = units["name"].astype("string").fillna("").to_numpy() if "name" in units else np.full(len(units), "")
    return np.array([f"{LABELS[level]} {n}({c})" if n else f"{LABELS[level]} {c}" for n, c in zip(name, code)],
                    dtype=object)


def shortfalls(rules: RuleSet, units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
               buildings: gpd.GeoDataFrame | None = None, level: str = "communities",
               parent: str = "street_code") -> list[dict]:
    """``facility_shortfall`` finding rows of the units of ``level`` (all layers in one metric CRS)."""
    rows = []
    applicable = [r for r in rules.facilities if r.level == level and
                  any(v is not None for v in (r.min_count, r.min_floor_area_m2, r.per_100_households_m2, r.per_estate))]
    if not applicable or not len(units):
        return rows
    own = owners(facilities, units, level)
    area = facilities["floor_area_m2"].fillna(0).to_numpy(float) if "floor_area_m2" in facilities \
        else np.zeros(len(facilities))
    kind = facilities["kind"].astype(object).to_numpy()
    hh = households(units, buildings)
    labels = _labels(units, level)
    codes = units["code"].astype(str).to_numpy() if "code" in units else labels
    parents = units[parent].astype(object).to_numpy() if parent in units else np.full(len(units), None)
    geoms = units.geometry.values
    for r in applicable:
        mine = np.isin(kind, r.kinds) & (own >= 0)
        total = np.bincount(own[mine], weights=area[mine], minlength=len(units))
        count = np.bincount(own[mine], minlength=len(units)).astype(float)
        largest = np.zeros(len(units))
        np.maximum.at(largest, own[mine], area[mine])
        what = "、".join(label(k) for k in r.kinds)
        checks = []
        if r.min_count is not None:
            checks.append((count, np.full(len(units), float(r.min_count)),
                           lambda i, v, lim: f"{what} {v:,.0f} 个，应至少 {lim:,.0f} 个，缺 {lim - v:,.0f} 个"))
        if r.min_floor_area_m2 is not None:
            checks.append((largest, np.full(len(units), float(r.min_floor_area_m2)),
                           lambda i, v, lim: f"{what}面积 {v:,.1f} m²（最大一处），应不少于 {lim:,.1f} m²，"
                                             f"缺口 {lim - v:,.1f} m²"))
        if r.per_100_households_m2 is not None:
            checks.append((total, hh / 100 * r.per_100_households_m2,
                           lambda i, v, lim: f"{what}面积 {v:,.1f} m²，按每百户 {r.per_100_households_m2:g} m²"
                                             f"（{hh[i]:,.0f} 户）应不少于 {lim:,.1f} m²，缺口 {lim - v:,.1f} m²"))
        if r.per_estate is not None:
            checks.append((total, _estates_due(r.per_estate, units, buildings),
                           lambda i, v, lim: f"{what}面积 {v:,.1f} m²，按所辖小区建筑面积应不少于 {lim:,.1f} m²，"
                                             f"缺口 {lim - v:,.1f} m²"))
        for value, limit, message in checks:
            for i in np.flatnonzero(value < limit - 1e-9):
                rows.append(finding("facility_shortfall", level, [codes[i]], geoms[i],
                                    f"{labels[i]}：{message(i, value[i], limit[i])}", rule=r.rule, source=r.source,
                                    parent=parents[i], value=float(value[i]), limit=float(limit[i])))
    return rows

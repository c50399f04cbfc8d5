"""人无遗漏: every building in exactly one grid, declared grids right, household totals adding up.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box, Point
>>> from gis.check.level import Level
>>> from gis.rules import load_rules
>>> grids = Level.of(gpd.GeoDataFrame({"code": ["G1", "G2"]}, geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)]), "grids")
>>> b = gpd.GeoDataFrame({"code": ["B1", "B2"], "households": [10, 20], "grid_code": ["G1", "G1"]},
...                      geometry=[Point(5, 5), Point(15, 5)])
>>> a = assign(b, grids, load_rules())
>>> a.grid.tolist(), [r["code"] for r in a.findings]
([0, 1], ['misassigned_building'])
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from gis.check.level import Level
from gis.findings import finding
from gis.rules import RuleSet


@dataclass
class Assignment:
    """Index of the grid holding each building (-1 if none) and the findings of the assignment."""

    grid: np.ndarray
    points: np.ndarray
    findings: list[dict]


def _row(code, rules, ids, geometry, message, layer="buildings", **columns):
    return finding(code, layer, ids, geometry, message, rule="人无遗漏", source=rules.principle("人无遗漏")[0],
                   **columns)


def assign(buildings: gpd.GeoDataFrame, grids: Level, rules: RuleSet) -> Assignment:
    """Join buildings to grids (one STRtree query) and report unassigned, multi-assigned and
    misassigned buildings. A footprint counts in a grid where it overlaps it by more than the area
    tolerance; a point, where it lies in the grid's interior."""
    geoms = np.asarray(buildings.geometry.values)
    n = len(geoms)
    codes = buildings["code"].astype(object).to_numpy() if "code" in buildings else np.arange(1, n + 1).astype(str)
    b, g = grids.tree.query(geoms, predicate="intersects")
    counts = np.bincount(b, minlength=n)
    grid = np.full(n, -1)
    one = counts[b] == 1
    grid[b[one]] = g[one]
    many = np.flatnonzero(counts[b] > 1)
    inside_count = np.zeros(n, dtype=int)
    if len(many):
        mb, mg = b[many], g[many]
        polys = shapely.get_type_id(geoms[mb]) != 0
        share = np.where(polys, shapely.area(shapely.intersection(geoms[mb], grids.geoms[mg])), 0.0)
        inside = np.where(polys, share > rules.area_tolerance,
                          shapely.contains_properly(grids.geoms[mg], geoms[mb]))
        inside_count = np.bincount(mb[inside], minlength=n)
        order = np.lexsort((-share, ~inside, mb))  # per building: inside first, then largest share
        first = order[np.r_[True, mb[order][1:] != mb[order][:-1]]]
        grid[mb[first]] = mg[first]
    rows = []
    for i in np.flatnonzero(counts == 0):
        rows.append(_row("unassigned_building", rules, [codes[i]], geoms[i], f"建筑 {codes[i]} 不在任何网格内"))
    for i in np.flatnonzero(inside_count > 1):
        held = grids.codes[g[b == i]]
        rows.append(_row("multi_assigned_building", rules, [codes[i]], geoms[i],
                         f"建筑 {codes[i]} 同时位于 {len(held)} 个网格：{'、'.join(map(str, held))}",
                         value=float(len(held)), limit=1.0))
    if "grid_code" in buildings:
        declared = buildings["grid_code"].astype(object).to_numpy()
        known = set(grids.codes)
        actual = np.where(grid >= 0, grids.codes[np.maximum(grid, 0)], None)
        wrong = (grid >= 0) & (inside_count <= 1) & np.array([d is not None and d == d and d != "" for d in declared]) \
            & (declared != actual)
        for i in np.flatnonzero(wrong):
            why = "不存在" if declared[i] not in known else f"实际位于 {grids.label(grid[i])}"
            rows.append(_row("misassigned_building", rules, [codes[i]], geoms[i],
                             f"建筑 {codes[i]} 申报属于网格 {declared[i]}，{why}", parent=actual[i]))
    points = geoms if (shapely.get_type_id(geoms) == 0).all() else shapely.point_on_surface(geoms)
    return Assignment(grid, points, rows)


def totals(buildings: gpd.GeoDataFrame, owner: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Households and residents of the buildings held by each of ``n`` units (``owner`` per building)."""
    ok = owner >= 0
    return {m: np.bincount(owner[ok], weights=buildings[m].to_numpy()[ok], minlength=n)
            for m in ("households", "residents") if m in buildings}


def households_mismatch(level: Level, counted: dict[str, np.ndarray], rules: RuleSet,
                        unknown=frozenset()) -> list[dict]:
    """Units whose declared households/residents differ from the sum of their buildings; units
    whose declared counts could not be read (codes in ``unknown``: ``invalid_value``) are left out."""
    rows = []
    word = {"households": "户", "residents": "人"}
    for m, sums in counted.items():
        if m not in level.units:
            continue
        declared = level.units[m].to_numpy()
        for i in np.flatnonzero((declared != sums) & ~np.isin(level.codes, list(unknown))):
            rows.append(_row("households_mismatch", rules, [level.codes[i]], level.geoms[i],
                             f"{level.label(i)} 申报 {declared[i]:,.0f} {word[m]}，其建筑合计 {sums[i]:,.0f} {word[m]}",
                             layer=level.name, value=float(sums[i]), limit=float(declared[i])))
    return rows

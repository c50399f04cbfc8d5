"""``repair``: turn a messy layer into a valid coverage, with a report of every change.

GEOS's coverage cleaner (``shapely.coverage_clean``, GEOS ≥ 3.14) nodes the linework of all
units, snaps vertices closer than ``snap`` together (so shared edges match exactly: no
``unmatched_edges``), gives every overlap to the unit with the longest shared border with it
(``merge_strategy="longest_border"``; 不交叉) and fills every gap enclosed by the units that is
narrower than ``gap_width`` into the adjacent unit with the longest shared border (地无空白). By
default every enclosed gap is filled: a hole inside the layer's outline is a gap whatever its width.

The plan's ``changes`` list each piece a unit gains or loses (area, geometry), ``sizes`` the area
of each unit before and after; when the city has buildings their households are counted per unit
before and after (a building in a filled gap is now counted: 人无遗漏).

Limits: the outer outline is not changed (gaps open to the outside are not gaps), and lower levels
are cleaned as one layer: a unit that crosses its parent (``outside_parent``) is not clipped; such
findings remain in the plan's findings.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> from gis.model import City
>>> s = gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[box(0, 0, 10, 10), box(9.5, 0, 20, 10)], crs=4548)
>>> plan = repair(City({"streets": s}), "streets")
>>> plan.sizes["area_change_m2"].abs().tolist(), plan.summary["coverage_valid"]
([0.0, 5.0], True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gis.check.level import polygonal
from gis.findings import findings as _findings
from gis.model import City
from gis.rules import RuleSet, load_rules
from gis.simulate.atoms import PlanError
from gis.simulate.partition import unit_bounds
from gis.simulate.plan import Plan, build


def repair(city: City, level: str = "streets", rules: str | RuleSet = "national", *,
           gap_width: float | None = None, snap: float = -1.0,
           merge_strategy: str = "longest_border") -> Plan:
    """A plan that makes ``level`` a valid coverage without gaps inside its outline.

    Parameters
    ----------
    gap_width : float, optional
        Fill enclosed gaps narrower than this (metres; GEOS measures a gap's width as the diameter
        of its largest inscribed circle). None (default) fills every enclosed gap.
    snap : float
        Vertex snapping distance in metres; -1 lets GEOS choose a tiny one from the extent
        (about 1e-9 of it), 0 disables snapping.
    merge_strategy : str
        Who gets an overlap: ``longest_border`` (default), ``max_area``, ``min_area``, ``min_index``.
    """
    rules = load_rules(rules)
    if level not in city:
        raise PlanError(f"the city has no {level} layer")
    units = city.metric(level).reset_index(drop=True)
    raw = np.asarray(units.geometry.values)
    geoms = raw.copy()
    bad = ~shapely.is_valid(raw)
    if bad.any():
        geoms[bad] = polygonal(shapely.make_valid(raw[bad], method="structure", keep_collapsed=False))
    if gap_width is None:
        minx, miny, maxx, maxy = shapely.total_bounds(geoms)
        width = float(np.hypot(maxx - minx, maxy - miny))  # wider than any enclosed gap
    else:
        width = float(gap_width)
    cleaned = polygonal(shapely.coverage_clean(geoms, gap_width=width, snapping_distance=snap,
                                               merge_strategy=merge_strategy))
    hh0, res0 = _count(city, raw)
    hh1, res1 = _count(city, cleaned)
    keep = [c for c in units.columns if c not in ("households", "residents", units.geometry.name)]
    before = units[keep].assign(households=hh0, residents=res0, status="before").set_geometry(raw)
    changed = ~shapely.equals_exact(raw, cleaned, tolerance=0.0)
    after = units[keep].assign(households=hh1, residents=res1,
                               status=np.where(changed, "changed", "kept")).set_geometry(cleaned)
    before = before.set_crs(units.crs, allow_override=True)
    after = after.set_crs(units.crs, allow_override=True)
    holes_before = _holes(geoms)
    holes_after = _holes(cleaned)
    summary = {
        "gap_width_m": gap_width, "snap_m": snap, "merge_strategy": merge_strategy,
        "invalid_repaired": int(bad.sum()),
        "units_changed": int(changed.sum()),
        "coverage_valid_before": bool(shapely.coverage_is_valid(geoms)),
        "coverage_valid": bool(shapely.coverage_is_valid(cleaned)),
        "gaps_before": len(holes_before), "gaps_before_m2": round(float(shapely.area(holes_before).sum()), 1),
        "gaps_after": len(holes_after), "gaps_after_m2": round(float(shapely.area(holes_after).sum()), 1),
        "households_before": int(hh0.sum()), "households_after": int(hh1.sum()),
        "causes": [],
    }
    if len(holes_after):
        summary["causes"].append(f"{len(holes_after)} 处空白宽于 gap_width = {gap_width} m，未填补")
    plan = build("repair", level, None, rules, city, before, after,
                 _no_moves(units.crs), unit_bounds(after, level, rules), summary)
    area0 = shapely.area(raw)
    change = plan.sizes["area_change_m2"].to_numpy(float)[: len(units)]
    plan.summary["max_area_change_m2"] = round(float(np.abs(change).max()), 1) if len(change) else 0.0
    plan.summary["max_area_change_pct"] = round(float((np.abs(change) / area0).max() * 100), 4) if len(change) else 0.0
    topo = plan.findings[plan.findings["severity"] == "error"]
    plan.summary["feasible"] = bool(plan.summary["coverage_valid"] and not len(topo))
    if len(topo):
        plan.summary["causes"].append("修复后仍有错误：" + ", ".join(sorted(set(topo["code"]))))
    return plan


def _holes(geoms) -> np.ndarray:
    """The holes of the union of ``geoms`` (enclosed gaps)."""
    union = shapely.union_all(geoms)
    rings = [r for p in shapely.get_parts(union) for r in p.interiors]
    return shapely.polygons(np.array(rings, dtype=object)) if rings else np.zeros(0, dtype=object)


def _count(city: City, geoms) -> tuple[np.ndarray, np.ndarray]:
    """Households and residents of the buildings in each unit (first unit when several)."""
    n = len(geoms)
    if "buildings" not in city or not len(city["buildings"]):
        return np.zeros(n, np.int64), np.zeros(n, np.int64)
    b = city.metric("buildings")
    pts = shapely.point_on_surface(np.asarray(b.geometry.values))
    bi, ui = shapely.STRtree(geoms).query(pts, predicate="intersects")
    first = np.r_[True, bi[1:] != bi[:-1]] if len(bi) else np.zeros(0, bool)
    bi, ui = bi[first], ui[first]
    hh = np.bincount(ui, b["households"].to_numpy(np.int64)[bi], n).astype(np.int64)
    res = np.bincount(ui, b["residents"].to_numpy(np.int64)[bi], n).astype(np.int64) if "residents" in b \
        else np.zeros(n, np.int64)
    return hh, res


def _no_moves(crs):
    import geopandas as gpd

    return gpd.GeoDataFrame(pd.DataFrame({"code": [], "from": [], "to": [], "households": [], "residents": []}),
                            geometry=[], crs=crs)


__all__ = ["repair", "_findings"]

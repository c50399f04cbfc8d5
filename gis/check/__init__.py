"""``check``: topology per level and across levels, the assignment of buildings, and size rules.

The result is a findings GeoDataFrame (:mod:`gis.findings`) in the city's CRS, with a
``summary`` of counts per layer.

Examples
--------
>>> from gis import read_city, check
>>> found = check(read_city("data/sample.gpkg"), "nanchang-2002")
>>> found.summary["rule_set"]
'nanchang-2002'
>>> sorted(set(found["code"]))[:3]
['gap', 'households_mismatch', 'misassigned_building']
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import geopandas as gpd
import numpy as np

from gis import findings as fnd
from gis.check import assignment, size, topology
from gis.check.level import Level
from gis.model import PARENT, City
from gis.rules import DEFAULT_RULES, RuleSet, load_rules


def _owners_above(child_owner: np.ndarray, nest, parent: Level, points: np.ndarray) -> np.ndarray:
    """The parent unit holding each building: its child unit's parent where that child lies inside
    its parent, else found by the building's point."""
    pidx, inside = nest
    owner = np.where(child_owner >= 0, pidx[np.maximum(child_owner, 0)], -1)
    ask = np.flatnonzero((child_owner < 0) | ~inside[np.maximum(child_owner, 0)])
    owner[ask] = parent.owner(points[ask])
    return owner


def _name_parents(rows: list[dict], city: City) -> list[dict]:
    """Fill ``parent`` of findings whose units all declare the same parent (DESIGN.md's format)."""
    declared: dict[str, dict] = {}
    for r in rows:
        layer = r["layer"]
        column = PARENT.get(layer, (None, None))[1]
        if r["parent"] is not None or column is None or column not in city[layer]:
            continue
        if layer not in declared:
            declared[layer] = dict(zip(city[layer]["code"], city[layer][column]))
        parents = {declared[layer].get(code) for code in r["ids"]}
        if len(parents) == 1:
            r["parent"] = parents.pop()
    return rows


class Findings(gpd.GeoDataFrame):
    """Findings with the ``summary`` of the run (counts per layer, rule set)."""

    @property
    def summary(self) -> dict:
        return self.attrs.get("summary", {})


def check(city: City, rules: str | RuleSet = DEFAULT_RULES, *,
          progress: Callable[[str], None] | None = None) -> Findings:
    """Check a city against a rule set; return its findings (errors first).

    Parameters
    ----------
    city : City
        As read by :func:`gis.read_city`.
    rules : str or RuleSet
        A bundled rule set name (``national``, ``nanchang-2002``, ``tiemenguan-2018``) or a TOML path.
    progress : callable, optional
        Called with a short message before each step.
    """
    rules = load_rules(rules)
    say = progress or (lambda msg: None)
    with ThreadPoolExecutor(max_workers=2) as pool:
        levels: dict[str, Level] = {}
        nests: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        rows: list[dict] = []
        for name in city.levels:  # while GEOS validates each level's coverage in the pool
            say(f"{name}: geometry and nesting")
            lv = levels[name] = Level.of(city.metric(name), name, pool)
            parts = city.parts[name].to_crs(city.metric_crs) if name in city.parts else None
            rows += topology.invalid_geometry(lv, rules) + topology.duplicate_ids(lv, rules, parts)
            rows += topology.multiparts(lv, rules, parts)
            parent_name, column = PARENT.get(name, (None, None))
            if parent_name in levels:
                nests[name] = topology.nesting(lv, levels[parent_name], column)
                rows += topology.orphans(lv, levels[parent_name], column, nests[name], rules)
                rows += topology.outside_parent(lv, levels[parent_name], nests[name], rules)
        measured = {name: {m: lv.units[m].to_numpy() for m in ("households", "residents") if m in lv.units}
                    for name, lv in levels.items()}
        if "buildings" in city and "grids" in levels:
            say("buildings: assignment")
            buildings = city.metric("buildings")
            a = assignment.assign(buildings, levels["grids"], rules)
            rows += a.findings
            owners, below = {"grids": a.grid}, "grids"
            for name in reversed(city.levels[:-1]):  # communities, then streets
                nested = PARENT[below][0] == name
                owners[name] = _owners_above(owners[below], nests[below], levels[name], a.points) if nested \
                    else levels[name].owner(a.points)
                below = name
            for name, lv in levels.items():
                measured[name] = assignment.totals(buildings, owners[name], len(lv.geoms))
                unknown = {r["ids"][0] for r in city.defects if r["code"] == "invalid_value" and r["layer"] == name}
                rows += assignment.households_mismatch(lv, measured[name], rules, unknown)
        for name, lv in levels.items():
            say(f"{name}: overlaps and gaps")
            rows += topology.overlaps(lv, rules)
            rows += topology.gaps(lv, rules, levels.get(PARENT.get(name, (None,))[0]))
    say("sizes")
    for name, lv in levels.items():
        rows += size.sizes(lv, measured[name], rules)
    found = fnd.findings(_name_parents(rows, city), crs=city.metric_crs)
    if city.crs is not None and not city.crs.equals(city.metric_crs):
        found = found.to_crs(city.crs)
    defects = [{**r, "source": r["source"] or rules.principle(r["rule"])[0]} for r in city.defects]
    found = fnd.concat([found, fnd.findings(defects, crs=city.crs)], crs=found.crs)
    features = {name: len(city[name]) for name in city.layers if name in levels or name == "buildings"}
    out = Findings(found)
    out.attrs["summary"] = fnd.summary(out, features, rules.name)
    return out

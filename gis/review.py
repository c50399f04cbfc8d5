"""Review of a change: one rule each for "a new error", "within bounds" and "feasible".

Plans (:mod:`gis.simulate`), repair, redraw proposals (``api``) and a street's view of the
findings all judge a change with these functions, so the rule is written once:

- :func:`subset`: the part of a city a change is checked on — a parent unit, everything under it
  and the buildings inside it.
- :func:`new_findings`: a finding of the result is new when its key (code, layer, sorted ids) is
  not among the findings before, or when it is an error whose area grew by more than the rule
  set's area tolerance.
- :func:`size_table`: each unit's size against its rule set, one reading of the rule set for all:
  per unit and measure, the first size rule of the level whose ``where`` matches the unit.
- acceptance callables composed like GerryChain's ``Validator``: :class:`Validator` of
  :func:`no_new_errors`, :func:`within_bounds` and :func:`contiguous`.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> before = gpd.GeoDataFrame({"code": ["gap"], "severity": ["error"], "layer": ["grids"], "ids": [["G1"]],
...                            "area_m2": [10.0]}, geometry=[box(0, 0, 1, 10)])
>>> after = gpd.GeoDataFrame({"code": ["gap", "overlap"], "severity": ["error", "error"],
...                           "layer": ["grids", "grids"], "ids": [["G1"], ["G1", "G2"]],
...                           "area_m2": [10.5, 3.0]}, geometry=[box(0, 0, 1, 10.5), box(0, 0, 1, 3)])
>>> new_findings(before, after, "national")["code"].tolist()  # the gap grew by 0.5 m²: not new
['overlap']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import shapely

from gis.findings import key
from gis.model import LEVELS, PARENT, City
from gis.rules import DEFAULT_RULES, RuleSet, load_rules

__all__ = ["DEFAULT_RULES", "subset", "new_findings", "size_table", "Validator", "no_new_errors",
           "within_bounds", "contiguous"]


def subset(city: City, parent: str | None, level: str = "communities") -> City:
    """The units under ``parent`` (a code of the level above ``level``), the parent itself, and the
    buildings whose representative point lies in it; the whole unit levels and buildings when
    ``parent`` is None.

    Parameters
    ----------
    city : City
    parent : str or None
        Code of a unit of the level above ``level`` (a street for ``communities``).
    level : str
        The level whose units a change redraws.

    Returns
    -------
    City
        In the same metric CRS, to be checked with :func:`gis.check`.

    Examples
    --------
    >>> from gis import read_city
    >>> city = read_city("data/sample.gpkg")
    >>> part = subset(city, "360102001000")
    >>> len(part["streets"]), set(part["communities"]["street_code"])
    (1, {'360102001000'})
    """
    if parent is None:
        sub = {k: v for k, v in city.layers.items() if k in LEVELS or k == "buildings"}
        return City(sub, source=city.source, metric_crs=city.metric_crs)
    up = PARENT[level][0]
    sub = {up: city[up][city[up]["code"] == parent]}
    codes = {parent}
    for lv in LEVELS[LEVELS.index(level):]:
        if lv not in city:
            break
        sub[lv] = city[lv][city[lv][PARENT[lv][1]].isin(codes)]
        codes = set(sub[lv]["code"])
    if "buildings" in city:
        b = city["buildings"]
        pts = shapely.point_on_surface(np.asarray(b.geometry.values))
        area = shapely.union_all(np.asarray(sub[up].geometry.values))
        shapely.prepare(area)
        sub["buildings"] = b[shapely.intersects(area, pts)]
    return City(sub, source=city.source, metric_crs=city.metric_crs)


def _frame(found) -> pd.DataFrame:
    return found if isinstance(found, pd.DataFrame) else pd.DataFrame(list(found), columns=None)


def _keys(found: pd.DataFrame) -> list[tuple]:
    if not len(found):
        return []
    layers = found["layer"] if "layer" in found else [None] * len(found)
    return [key(c, lay, ids) for c, lay, ids in zip(found["code"], layers, found["ids"])]


def is_new(before, after, rules: str | RuleSet = DEFAULT_RULES) -> np.ndarray:
    """Boolean mask over ``after``: which of its findings are new (see :func:`new_findings`).

    >>> gap = {"code": "gap", "layer": "grids", "ids": ["G1"]}
    >>> is_new([gap], [gap, {**gap, "ids": ["G2"]}]).tolist()
    [False, True]
    """
    tol = load_rules(rules).area_tolerance
    b, a = _frame(before), _frame(after)
    old: dict[tuple, float] = {}
    for k, ar in zip(_keys(b), _areas(b)):
        old[k] = max(old.get(k, 0.0), ar)
    errors = (a["severity"] == "error").to_numpy() if "severity" in a else np.zeros(len(a), bool)
    return np.array([k not in old or (err and ar > old[k] + tol)
                     for k, ar, err in zip(_keys(a), _areas(a), errors)], dtype=bool)


def _areas(found: pd.DataFrame) -> np.ndarray:
    if "area_m2" not in found:
        return np.zeros(len(found))
    return pd.to_numeric(found["area_m2"], errors="coerce").fillna(0.0).to_numpy(float)


def new_findings(before, after, rules: str | RuleSet = DEFAULT_RULES):
    """The findings of ``after`` that a change made: a key that ``before`` lacks, or an error whose
    area grew by more than the rule set's area tolerance.

    Parameters
    ----------
    before, after : GeoDataFrame or list of dict
        Findings (``gis.check`` or their JSON rows) before and after the change, of the same part
        of the city (:func:`subset`).
    rules : str or RuleSet
        Gives the area tolerance.

    Returns
    -------
    GeoDataFrame or list of dict
        The new findings, of the same kind as ``after``.
    """
    mask = is_new(before, after, rules)
    if isinstance(after, pd.DataFrame):
        return after[mask]
    return [f for f, m in zip(after, mask) if m]


def size_table(units: pd.DataFrame, level: str, rules: str | RuleSet = DEFAULT_RULES,
               values: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Each unit's size rules: one row per unit and measure that a rule of ``level`` bounds.

    For each measure the first size rule of the level whose ``where`` matches the unit applies
    (rules are listed most specific first). The first rule that matches a unit at all gives its
    ``primary`` measure, the one plans balance.

    Parameters
    ----------
    units : DataFrame
        Units of ``level`` with ``code`` and the columns rules select by (``kind``…).
    level : str
    rules : str or RuleSet
    values : dict of str to array, optional
        The measured value per unit of each measure (e.g. households of the buildings); by
        default the units' own columns, where they have them.

    Returns
    -------
    DataFrame
        Columns ``code``, ``measure``, ``primary``, ``value``, ``min``, ``max``, ``merge_below``
        (NaN where open), ``ok`` (value within [min, max]), ``rule``, ``source``; indexed by the
        unit's position in ``units``, in that order.

    Examples
    --------
    >>> u = pd.DataFrame({"code": ["A", "B"], "kind": ["territorial", "work_unit"],
    ...                   "has_committee": [True, True], "households": [2500, 900]})
    >>> t = size_table(u, "communities", "nanchang-2002")
    >>> t[["code", "min", "max", "ok"]].values.tolist()
    [['A', 1000.0, 2000.0, False], ['B', 1000.0, nan, False]]
    """
    rules = load_rules(rules)
    codes = units["code"].to_numpy(object)
    n = len(units)
    rows = []
    taken: dict[str, np.ndarray] = {}
    first = np.zeros(n, bool)
    for order, rule in enumerate(r for r in rules.sizes if r.level == level):
        done = taken.setdefault(rule.measure, np.zeros(n, bool))
        mine = rule.matches(units) & ~done
        done |= mine
        if not mine.any():
            continue
        idx = np.flatnonzero(mine)
        if values is not None and rule.measure in values:
            value = np.asarray(values[rule.measure], float)[idx]
        else:
            value = units[rule.measure].to_numpy(float)[idx] if rule.measure in units else np.full(len(idx), np.nan)
        lo = np.nan if rule.min is None else float(rule.min)
        hi = np.nan if rule.max is None else float(rule.max)
        rows.append(pd.DataFrame({
            "position": idx, "order": order, "code": codes[idx], "measure": rule.measure, "primary": ~first[idx],
            "value": value, "min": lo, "max": hi,
            "merge_below": np.nan if rule.merge_below is None else float(rule.merge_below),
            "rule": rule.rule, "source": rule.source}))
        first[idx] = True
    columns = ["code", "measure", "primary", "value", "min", "max", "merge_below", "ok", "rule", "source"]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("code", "measure", "rule", "source") else float)
                             for c in columns})
    out = pd.concat(rows).sort_values(["position", "order"], kind="stable").set_index("position")
    out.index.name = None
    v = out["value"].to_numpy(float)
    out["ok"] = ~((v < out["min"].fillna(-np.inf).to_numpy()) | (v > out["max"].fillna(np.inf).to_numpy()))
    return out[columns]


# ---- acceptance: small callables, composed ---------------------------------------------------------

@dataclass(frozen=True)
class Result:
    """What a change is judged on: its findings before and after (of the same :func:`subset`),
    the size table of its units after (:func:`size_table`) and whether each unit is one piece."""

    before: object = ()
    after: object = ()
    sizes: pd.DataFrame | None = None
    pieces: dict | None = None  # unit code -> True when connected


Check = Callable[[Result, RuleSet], list[str]]


def no_new_errors(result: Result, rules: RuleSet) -> list[str]:
    """Causes, one per error finding the change made (:func:`new_findings`).

    >>> no_new_errors(Result([], [{"code": "gap", "severity": "error", "ids": ["G1"], "layer": "grids",
    ...                             "message": "空白"}]), load_rules())
    ['新增错误：空白']
    """
    fresh = new_findings(result.before, result.after, rules)
    rows = fresh.to_dict("records") if isinstance(fresh, pd.DataFrame) else fresh
    return [f"新增错误：{f.get('message') or f['code']}" for f in rows if f.get("severity") == "error"]


def within_bounds(result: Result, rules: RuleSet) -> list[str]:
    """Causes, one per unit outside the bounds of one of its size rules.

    >>> t = size_table(pd.DataFrame({"code": ["A"], "households": [2500]}), "communities", "nanchang-2002")
    >>> within_bounds(Result(sizes=t), load_rules("nanchang-2002"))
    ['A 有 2,500 户，超出 1,000–2,000 户']
    """
    if result.sizes is None or not len(result.sizes):
        return []
    word = {"households": "户", "residents": "人"}
    out = result.sizes[~result.sizes["ok"]]
    def bound(v):
        return "" if np.isnan(v) else f"{v:,.0f}"
    return [f"{r.code} 有 {r.value:,.0f} {word[r.measure]}，超出 {bound(r.min)}–{bound(r.max)} {word[r.measure]}"
            for r in out.itertuples()]


def contiguous(result: Result, rules: RuleSet) -> list[str]:
    """Causes, one per unit that is not one connected piece.

    >>> contiguous(Result(pieces={"A": True, "B": False}), load_rules())
    ['B 不连通']
    """
    return [f"{code} 不连通" for code, ok in (result.pieces or {}).items() if not ok]


class Validator:
    """All of ``checks`` at once: a change is accepted when none of them names a cause.

    >>> v = Validator([no_new_errors, contiguous])
    >>> v(Result(pieces={"A": True}), "national"), v.causes(Result(pieces={"A": False}), "national")
    (True, ['A 不连通'])
    """

    def __init__(self, checks: list[Check]):
        self.checks = list(checks)

    def causes(self, result: Result, rules: str | RuleSet = DEFAULT_RULES) -> list[str]:
        rules = load_rules(rules)
        return [c for check in self.checks for c in check(result, rules)]

    def __call__(self, result: Result, rules: str | RuleSet = DEFAULT_RULES) -> bool:
        return not self.causes(result, rules)

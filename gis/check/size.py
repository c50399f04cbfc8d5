"""Size rules: each unit's households or residents against the bounds of its rule (``gis.rules``).

Examples
--------
>>> import geopandas as gpd, numpy as np
>>> from shapely import box
>>> from gis.check.level import Level
>>> from gis.rules import load_rules
>>> s = Level.of(gpd.GeoDataFrame({"code": ["S1"], "name": ["豫章街道"]}, geometry=[box(0, 0, 1, 1)]), "streets")
>>> [r["code"] for r in sizes(s, {"residents": np.array([25000])}, load_rules("nanchang-2002"))]
['merge_candidate']
"""

from __future__ import annotations

import numpy as np

from gis.check.level import Level
from gis.rules import RuleSet

WORD = {"households": "户", "residents": "人"}


def sizes(level: Level, measured: dict[str, np.ndarray], rules: RuleSet) -> list[dict]:
    """Findings ``merge_candidate``, ``size_below``, ``size_above`` for one level.

    ``measured`` maps a measure to its value per unit; for each unit and measure the first rule of
    the level whose ``where`` matches applies.
    """
    rows = []
    taken = {m: np.zeros(len(level.geoms), dtype=bool) for m in measured}
    for rule in (r for r in rules.sizes if r.level == level.name and r.measure in measured):
        mine = rule.matches(level.units) & ~taken[rule.measure]
        taken[rule.measure] |= mine
        value = measured[rule.measure]
        w = WORD[rule.measure]
        checks = [("merge_candidate", rule.merge_below, value < (rule.merge_below or 0), "低于 {l:,.0f} {w}，可考虑撤并"),
                  ("size_below", rule.min, value < (rule.min if rule.min is not None else -np.inf), "低于下限 {l:,.0f} {w}"),
                  ("size_above", rule.max, value > (rule.max if rule.max is not None else np.inf), "高于上限 {l:,.0f} {w}")]
        done = np.zeros(len(value), dtype=bool)
        for code, limit, hit, text in checks:
            for i in np.flatnonzero(mine & hit & ~done):
                rows.append({"code": code, "severity": None, "layer": level.name, "ids": [level.codes[i]],
                             "parent": None, "area_m2": None, "value": float(value[i]), "limit": float(limit),
                             "rule": rule.rule, "source": rule.source, "geometry": level.geoms[i],
                             "message": f"{level.label(i)} 有 {value[i]:,.0f} {w}，" + text.format(l=limit, w=w)
                                        + f"（{rule.rule}）"})
            done |= mine & hit
    return rows

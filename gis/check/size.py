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
from gis.findings import finding
from gis.review import size_table
from gis.rules import RuleSet

WORD = {"households": "户", "residents": "人"}


def sizes(level: Level, measured: dict[str, np.ndarray], rules: RuleSet) -> list[dict]:
    """Findings ``merge_candidate``, ``size_below``, ``size_above`` for one level.

    ``measured`` maps a measure to its value per unit; each unit is held to its size rules as
    :func:`gis.review.size_table` reads them (per measure, the first rule of the level that matches).
    """
    table = size_table(level.units, level.name, rules, values=measured)
    table = table[table["measure"].isin(list(measured))]
    v = table["value"].to_numpy(float)
    merge = v < table["merge_below"].fillna(-np.inf).to_numpy()
    below = v < table["min"].fillna(-np.inf).to_numpy()
    above = v > table["max"].fillna(np.inf).to_numpy()
    rows = []
    for i, r, m, lo, hi in zip(table.index, table.itertuples(), merge, below, above):
        if not (m or lo or hi):
            continue
        code, limit, text = ("merge_candidate", r.merge_below, "低于 {l:,.0f} {w}，可考虑撤并") if m else \
            ("size_below", r.min, "低于下限 {l:,.0f} {w}") if lo else ("size_above", r.max, "高于上限 {l:,.0f} {w}")
        w = WORD[r.measure]
        rows.append(finding(code, level.name, [level.codes[i]], level.geoms[i],
                            f"{level.label(i)} 有 {r.value:,.0f} {w}，" + text.format(l=limit, w=w) + f"（{r.rule}）",
                            rule=r.rule, source=r.source, value=float(r.value), limit=float(limit)))
    return rows

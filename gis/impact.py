"""The impact of a plan beyond its lines: committees, posts, police and budget, before → after.

A plan that merges or splits communities creates and abolishes residents' committees (居委会), and
with them committee posts, community police officers and the yearly working budget; facilities
on land that moves change community. The numbers come from the rule set's ``[impact.*]`` tables
(``nanchang-2002``: seed 003 §10 posts, §13 budget, §29 police), each with its source; a rule set
without them says so in ``missing``.

Counted per community (``has_committee`` true where the column is absent): a committee has
``director`` + ``deputies`` posts (members, 委员若干, are not counted: the seed gives no number);
every community has ``officers`` police officers (§29: 在每个社区配备社区民警); every purely
residential community with a committee (kind not 单位型 / ``work_unit``) costs ``yuan`` a year
(§13; work-unit committees are paid "按原渠道").

Examples
--------
>>> from gis.synth import synth
>>> from gis.simulate import merge
>>> city, _ = synth(300, seed=1, plant={"size_below": 1})
>>> plan = merge(city, "360102001005", rules="nanchang-2002")
>>> out = impact(plan, city, "nanchang-2002")
>>> out["abolished"], out["change"]["committees"], out["change"]["budget_yuan"]
(['360102001005'], -1, -36000)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.model import City
from gis.rules import DEFAULT_RULES, RuleSet, load_rules

#: Measures reported, in order.
MEASURES = ("communities", "committees", "director_posts", "deputy_posts", "police_officers", "budget_yuan")
#: Kinds of community whose committee the city budget does not pay (单位型: 按原渠道).
WORK_UNIT = ("work_unit", "单位型")


def counts(communities: pd.DataFrame, rules: RuleSet) -> dict[str, int]:
    """The measures of a set of communities under ``rules`` (0 where the rule set gives no number).

    >>> c = pd.DataFrame({"code": ["A", "B"], "kind": ["territorial", "work_unit"], "has_committee": [True, True]})
    >>> counts(c, load_rules("nanchang-2002"))["budget_yuan"]
    36000
    """
    spec = rules.impact
    committee = communities["has_committee"].astype(bool).to_numpy() if "has_committee" in communities \
        else np.ones(len(communities), bool)
    work_unit = communities["kind"].isin(WORK_UNIT).to_numpy() if "kind" in communities \
        else np.zeros(len(communities), bool)
    n = int(committee.sum())
    return {"communities": len(communities), "committees": n,
            "director_posts": n * spec.get("committee", {}).get("director", 0),
            "deputy_posts": n * spec.get("committee", {}).get("deputies", 0),
            "police_officers": len(communities) * spec.get("police", {}).get("officers", 0),
            "budget_yuan": int((committee & ~work_unit).sum()) * spec.get("budget", {}).get("yuan", 0)}


def _live(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return units[units["status"] != "removed"] if "status" in units else units


def moved_facilities(plan, city: City) -> list[dict]:
    """Facilities standing on land the plan moves: code, kind, from and to unit (the plan's level).

    A facility moves with the atom (grid or block) its point lies in.
    """
    if "facilities" not in city or not len(plan.moves):
        return []
    fac = city.metric("facilities")
    pts = shapely.point_on_surface(np.asarray(fac.geometry.values))
    atoms = np.asarray(plan.moves.to_crs(city.metric_crs).geometry.values)
    f, m = shapely.STRtree(atoms).query(pts, predicate="intersects")
    f, first = np.unique(f, return_index=True)
    m = m[first]
    codes = fac["code"].to_numpy(object) if "code" in fac else np.arange(1, len(fac) + 1).astype(str)
    kinds = fac["kind"].to_numpy(object) if "kind" in fac else np.full(len(fac), None)
    return [{"code": str(codes[i]), "kind": kinds[i], "from": plan.moves["from"].iloc[j], "to": plan.moves["to"].iloc[j]}
            for i, j in zip(f, m)]


def impact(plan, city: City | None = None, rules: str | RuleSet | None = None) -> dict:
    """What ``plan`` changes besides its lines, before → after.

    Parameters
    ----------
    plan : gis.simulate.Plan
    city : City, optional
        The city the plan was made on, for the facilities that change unit.
    rules : str or RuleSet, optional
        Defaults to the plan's own rule set.

    Returns
    -------
    dict
        ``before``, ``after`` and ``change`` of each of ``MEASURES`` (for a plan of communities; a
        plan of another level changes none of them), ``created`` and ``abolished`` community codes,
        ``facilities`` that change unit, ``budget_parts`` (yuan per residential community),
        ``sources`` ({measure table: (source, quote)}) and ``missing`` (tables the rule set lacks).
    """
    rules = load_rules(rules or getattr(plan, "rule_set", None) or DEFAULT_RULES)
    before = _live(plan.before) if plan.level == "communities" else None
    after = _live(plan.units) if plan.level == "communities" else None
    b = counts(before, rules) if before is not None else dict.fromkeys(MEASURES, 0)
    a = counts(after, rules) if after is not None else b
    old = set(before["code"]) if before is not None else set()
    new = set(after["code"]) if after is not None else set()
    return {
        "level": plan.level, "rule_set": rules.name,
        "before": b, "after": a, "change": {k: a[k] - b[k] for k in MEASURES},
        "created": sorted(new - old), "abolished": sorted(old - new),
        "facilities": moved_facilities(plan, city) if city is not None else [],
        "budget_parts": rules.impact.get("budget", {}).get("parts", {}),
        "sources": {k: (v.get("source", ""), v.get("quote", "")) for k, v in rules.impact.items()},
        "missing": [k for k in ("committee", "police", "budget") if k not in rules.impact],
    }


def describe(out: dict) -> list[str]:
    """The impact as lines of Chinese for a terminal, a map or a review screen.

    >>> describe({"before": dict.fromkeys(MEASURES, 1), "after": dict.fromkeys(MEASURES, 1),
    ...           "change": dict.fromkeys(MEASURES, 0), "created": [], "abolished": [], "facilities": [],
    ...           "missing": ["budget"], "rule_set": "x"})[-1]
    '规则集 x 未给出：budget'
    """
    words = {"communities": "社区", "committees": "居委会", "director_posts": "主任", "deputy_posts": "副主任",
             "police_officers": "社区民警", "budget_yuan": "年工作经费（元）"}
    lines = [f"{words[k]}：{out['before'][k]:,} → {out['after'][k]:,}（{out['change'][k]:+,}）" for k in MEASURES]
    if out["created"]:
        lines.append(f"新设社区：{'、'.join(out['created'])}")
    if out["abolished"]:
        lines.append(f"撤销社区：{'、'.join(out['abolished'])}")
    lines += [f"设施 {f['code']}（{f['kind']}）：{f['from']} → {f['to']}" for f in out["facilities"]]
    if out["missing"]:
        lines.append(f"规则集 {out['rule_set']} 未给出：{', '.join(out['missing'])}")
    return lines

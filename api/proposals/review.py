"""A proposal's review: the street's findings before and after, what it adds, the sizes of its units.

The review is made before anyone approves a proposal: sizes of its units before and after, ``gis.check``
of the city with the proposal applied (limited to the street), and a summary whose ``new_errors``
counts the errors the proposal would add (an approval and an apply are refused while there are any).

>>> from gis import read_city
>>> city = read_city("data/sample.gpkg")
>>> rv = review(city, city, "360102001000", "grids", "national", 1)      # the city unchanged
>>> rv["summary"]["new_errors"], rv["summary"]["changed"], rv["findings"]["summary"]["street"]
(0, [], '360102001000')
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from api.store.projection import eroded
from gis.check import check
from gis.edit import in_street, totals
from gis.edit.proposed import SAME_TOLERANCE
from gis.findings import to_json
from gis.model import City
from gis.review import new_findings, size_table
from gis.rules import load_rules

#: The findings a drawn edit must not add: the coverage (不交叉、不跨社区、地无空白) and the
#: buildings in it (人无遗漏). Size findings are shown, not refused: an edit may be one of several.
COVERAGE_CODES = frozenset({"invalid_geometry", "overlap", "sliver", "gap", "outside_parent", "unmatched_edges",
                            "multipart", "unassigned_building", "multi_assigned_building"})


def street_mask(found: gpd.GeoDataFrame, street: str, communities: set, area) -> np.ndarray:
    """Findings about one street: at a place inside it (``area``: the street, eroded by 1 m, in the
    findings' CRS) or naming the street or one of its ``communities``."""
    if not len(found):
        return np.zeros(0, bool)
    codes = {street, *communities}
    geoms = np.asarray(found.geometry.values, dtype=object)
    here = np.asarray(shapely.intersects(geoms, area), bool) & ~shapely.is_missing(geoms)
    named = np.array([p in codes or bool(codes & set(map(str, ids or []))) for p, ids in
                      zip(found["parent"], found["ids"])], bool)
    return here | named


def street_findings(city: City, street: str, rules) -> dict:
    """``gis.check`` of the whole city, limited to one street (JSON form; the summary counts the
    street's findings). The whole city is checked, not :func:`gis.review.subset` of the street:
    a subset loses the units across the street's border, which turns buildings and gaps there
    into findings the city does not have."""
    found = check(city, rules)
    streets = city["streets"]
    area = eroded(shapely.union_all(np.asarray(streets.loc[streets["code"] == street].geometry.values,
                                               dtype=object)), city.crs)
    comms = set(city["communities"].loc[city["communities"]["street_code"] == street, "code"])
    return limited(found, street_mask(found, street, comms, area), street)


def limited(found: gpd.GeoDataFrame, mask: np.ndarray, street: str) -> dict:
    """The JSON findings of ``found[mask]``, with a summary of those."""
    sub = found[mask]
    layers = {}
    for layer, sev in zip(sub["layer"], sub["severity"]):
        d = layers.setdefault(layer, {"errors": 0, "warnings": 0})
        d["errors" if sev == "error" else "warnings"] += 1
    out = to_json(sub)
    out["summary"] = {"layers": layers, "rule_set": found.attrs.get("summary", {}).get("rule_set"),
                      "street": street, "errors": int((sub["severity"] == "error").sum()),
                      "warnings": int((sub["severity"] != "error").sum())}
    return out


def review(city: City, new: City, street: str, level: str, rules: str, base_version: int,
           found: dict | None = None) -> dict:
    """Sizes, findings (check of the street in ``new``, or ``found`` when already made; those the
    proposal adds marked ``new``) and summary of a proposal."""
    ruleset = load_rules(rules)
    before_found = street_findings(city, street, ruleset)["findings"]
    found = found or street_findings(new, street, ruleset)
    fresh = new_findings(before_found, found["findings"], ruleset)
    for f in fresh:
        f["new"] = True
    new_errors = [f for f in fresh if f["severity"] == "error"]
    gone = new_findings(found["findings"], before_found, ruleset)  # the one rule, the other way round
    fixed = [f for f in gone if f["severity"] == "error"]
    b_units = city[level][in_street(city, level, street)]
    a_units = new[level][in_street(new, level, street)]
    buildings = city["buildings"] if "buildings" in city else None
    tb, ta = totals(b_units, buildings), totals(a_units, buildings)
    measured = {m: ta[m].reindex(a_units["code"]).fillna(0).to_numpy() for m in ("households", "residents")}
    table = size_table(a_units.drop(columns=a_units.geometry.name), level, ruleset, values=measured)
    ok_of = table.groupby("code")["ok"].all()
    codes = list(dict.fromkeys([*b_units["code"], *a_units["code"]]))
    b_geom = dict(zip(b_units["code"], b_units.geometry.values))
    a_geom = dict(zip(a_units["code"], a_units.geometry.values))
    sizes, out_of_bounds, changed = [], [], []
    for c in codes:
        hb, rb = (int(tb.at[c, "households"]), int(tb.at[c, "residents"])) if c in tb.index else (0, 0)
        ha, ra = (int(ta.at[c, "households"]), int(ta.at[c, "residents"])) if c in ta.index else (0, 0)
        ok = bool(ok_of.get(c, True))
        if c in a_geom and not ok:
            out_of_bounds.append(c)
        if c not in a_geom or c not in b_geom or not shapely.equals_exact(a_geom[c], b_geom[c], SAME_TOLERANCE):
            changed.append(c)
        sizes.append({"code": c, "households_before": hb, "households_after": ha, "residents_before": rb,
                      "residents_after": ra, "ok": bool(ok), "status": "removed" if c not in a_geom
                      else "new" if c not in b_geom else "changed" if c in changed else "kept"})
    summary = {
        "new_errors": len(new_errors), "new_error_codes": sorted({f["code"] for f in new_errors}),
        "fixed_errors": len(fixed),
        "errors": found["summary"]["errors"], "warnings": found["summary"]["warnings"],
        "units_before": len(b_units), "units_after": len(a_units), "changed": changed,
        "out_of_bounds": out_of_bounds, "rule_set": ruleset.name, "base_version": base_version,
    }
    return {"sizes": sizes, "findings": found, "summary": summary}

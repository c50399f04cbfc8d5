"""The Plan: a proposed new set of units for one parent (or a whole level), as a value.

A plan holds the units before and after (GeoDataFrames, metric CRS), the atoms that move from one
unit to another, the sizes before and after, the geometric diff (areas each unit gains and loses),
the findings of ``check`` on the result and a summary (feasible or not, and why). It can be saved
(GeoPackage + JSON, all or nothing), loaded, drawn (``plan_map``) and applied to a city.

Applying replaces the plan's units of its level, sets the parent code of every moved atom and the
declared ``households``/``residents`` of changed units to the counts of their buildings. Every other
unit, building and code is left as it was (grid codes stay stable even when a grid moves to
another community).

Examples
--------
>>> from gis.synth import synth
>>> from gis.simulate import merge
>>> city, _ = synth(300, seed=1, plant={"size_below": 1})
>>> plan = merge(city, "360102001005", rules="nanchang-2002")
>>> plan.summary["feasible"], plan.summary["households_moved"] > 0
(True, True)
>>> new = plan.apply(city)
>>> "360102001005" in set(new["communities"]["code"])
False
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gis.atomic import replacing
from gis.check import check
from gis.findings import findings as _findings
from gis.findings import to_json
from gis.model import LEVELS, PARENT, City
from gis.review import new_findings, subset
from gis.rules import RuleSet, load_rules
from gis.simulate.atoms import PlanError
from gis.simulate.measures import polsby_popper

UNIT_COLUMNS = ["code", "name", "households", "residents", "polsby_popper", "status"]


@dataclass(eq=False)
class Plan:
    """A proposed redrawing of some units of one level.

    Attributes
    ----------
    operation : str
        ``repair``, ``merge``, ``split``, ``rebalance``.
    level : str
        The level whose units change (``communities``…).
    parent : str or None
        Code of the parent unit the plan is confined to (None: the whole level).
    before, units : GeoDataFrame
        The affected units before and after (metric CRS): ``code``, ``name``, parent code, copied
        attributes, ``households``, ``residents``, ``polsby_popper``, ``status`` (after: ``kept``,
        ``changed``, ``new``, ``removed`` — a removed unit has an empty geometry).
    moves : GeoDataFrame
        One row per atom that changes unit: ``code``, ``from``, ``to``, ``households``,
        ``residents``, geometry. Empty for a repair.
    sizes : DataFrame
        Per unit code: households, residents, area and Polsby–Popper before and after, the bounds
        of its size rule and ``ok`` (within them after).
    changes : GeoDataFrame
        The geometric diff: ``unit``, ``change`` (``gained``/``lost``), ``area_m2``, geometry.
    findings : GeoDataFrame
        ``check`` of the result (the parent and everything under it).
    summary : dict
        ``feasible``, ``causes`` (why not), ``households_moved``, ``residents_moved``,
        ``atoms_moved``, units before/after, error counts of the result, parameters.
    noded : GeoDataFrame or None
        Units of the level the plan does not redraw that gain a vertex where a new line (cut along
        a road, see ``gis.simulate.enclosures``) ends on their edge: ``code``, geometry. Their shape
        and area do not change.
    """

    operation: str
    level: str
    parent: str | None
    rule_set: str
    before: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    moves: gpd.GeoDataFrame
    sizes: pd.DataFrame
    changes: gpd.GeoDataFrame
    findings: gpd.GeoDataFrame
    summary: dict = field(default_factory=dict)
    noded: gpd.GeoDataFrame | None = None

    @property
    def crs(self):
        return self.units.crs

    @property
    def feasible(self) -> bool:
        return bool(self.summary.get("feasible"))

    # ---- applying --------------------------------------------------------------------------------
    def apply(self, city: City) -> City:
        """A new City with this plan applied (the input city is not changed)."""
        layers = {k: v.copy() for k, v in city.layers.items()}
        if self.level not in layers:
            raise PlanError(f"the city has no {self.level} layer")
        lay = layers[self.level]
        after = self.units.to_crs(lay.crs) if self.units.crs is not None else self.units
        if self.operation == "repair":
            if len(after) != len(lay) or not (after["code"].to_numpy(object) == lay["code"].to_numpy(object)).all():
                raise PlanError(f"this repair plan was made for another {self.level} layer "
                                f"({len(after)} units, the city has {len(lay)})")
            layers[self.level] = lay.set_geometry(gpd.GeoSeries(after.geometry.values, index=lay.index,
                                                                crs=lay.crs))
        else:
            missing = sorted(set(self.before["code"]) - set(lay["code"]))
            if missing:
                raise PlanError(f"the plan changes {self.level} {', '.join(missing)}, which the city does not have")
            layers[self.level] = lay = _replace_units(lay, after)
            if self.noded is not None and len(self.noded):
                by_code = self.noded.to_crs(lay.crs).set_index("code").geometry
                hit = lay["code"].isin(by_code.index)
                lay.loc[hit, lay.geometry.name] = lay.loc[hit, "code"].map(by_code).to_numpy()
            if len(self.moves):
                _move_children(layers, self.level, self.moves)
        return City(layers, source=city.source, metric_crs=city.metric_crs)

    def check(self, city: City, rules: str | RuleSet | None = None) -> gpd.GeoDataFrame:
        """Findings of ``check`` on the applied city, limited to this plan's parent."""
        return result_findings(self.apply(city), self.level, self.parent, rules or self.rule_set)

    # ---- saving ----------------------------------------------------------------------------------
    def save(self, path) -> tuple[Path, Path]:
        """Write ``PATH.gpkg`` (layers before, units, moves, changes, findings) and ``PATH.json``
        (summary, sizes, moves, findings); each all or nothing. Returns both paths."""
        path = Path(path)
        gpkg, js = path.with_suffix(".gpkg"), path.with_suffix(".json")
        with replacing(gpkg) as tmp:
            for name, gdf in self._layers().items():
                if len(gdf):
                    gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", append=tmp.exists())
        doc = {"operation": self.operation, "level": self.level, "parent": self.parent,
               "rule_set": self.rule_set, "crs": self.crs.to_wkt() if self.crs is not None else None,
               "summary": self.summary, "sizes": _records(self.sizes.reset_index()),
               "moves": _records(pd.DataFrame(self.moves.drop(columns="geometry"))),
               **{"findings": to_json(self.findings)["findings"]}}
        with replacing(js) as tmp:
            tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=_jsonable), encoding="utf-8")
        return gpkg, js

    def _layers(self) -> dict[str, gpd.GeoDataFrame]:
        f = self.findings.copy()
        f["ids"] = f["ids"].map(lambda ids: json.dumps(list(ids or []), ensure_ascii=False))
        out = {"before": self.before, "units": self.units, "moves": self.moves, "changes": self.changes,
               "findings": f}
        return {**out, "noded": self.noded} if self.noded is not None else out

    def table(self) -> pd.DataFrame:
        """Before/after sizes of the changed units (for notebooks and the CLI)."""
        s = self.sizes
        changed = set(self.units.loc[self.units["status"] != "kept", "code"])
        return s[s.index.isin(changed)] if changed else s

    def __repr__(self) -> str:
        s = self.summary
        return (f"Plan({self.operation} {self.level} of {self.parent or 'all'}: "
                f"{'feasible' if s.get('feasible') else 'INFEASIBLE'}, {s.get('units_before')}→{s.get('units_after')} "
                f"units, {s.get('households_moved', 0):,} households moved)")


def load_plan(path) -> Plan:
    """Read a plan written by ``Plan.save``."""
    path = Path(path)
    gpkg, js = path.with_suffix(".gpkg"), path.with_suffix(".json")
    for p in (gpkg, js):
        if not p.exists():
            raise PlanError("plan file not found", file=p)
    doc = json.loads(js.read_text(encoding="utf-8"))
    present = {n for n, _ in pyogrio.list_layers(gpkg)}
    crs = doc.get("crs")

    def layer(name, columns):
        if name in present:
            return gpd.read_file(gpkg, layer=name, engine="pyogrio")
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=crs)

    before, units = layer("before", UNIT_COLUMNS), layer("units", UNIT_COLUMNS)
    for g in (before, units):
        for c in g.columns:
            if c in ("households", "residents"):
                g[c] = g[c].astype(np.int64)
        g.geometry.values[g.geometry.isna().to_numpy()] = shapely.Polygon()
    moves = layer("moves", ["code", "from", "to", "households", "residents"])
    changes = layer("changes", ["unit", "change", "area_m2"])
    f = layer("findings", [])
    if len(f):
        f["ids"] = f["ids"].map(json.loads)
    found = _findings(f if len(f) else [], crs=crs)
    sizes = pd.DataFrame(doc["sizes"]).set_index("code") if doc["sizes"] else pd.DataFrame()
    noded = layer("noded", ["code"]) if "noded" in present else None
    return Plan(doc["operation"], doc["level"], doc["parent"], doc["rule_set"], before, units, moves, sizes,
                changes, found, doc["summary"], noded)


# ---- building a plan ---------------------------------------------------------------------------------

def build(operation: str, level: str, parent: str | None, rules: RuleSet, city: City, before: gpd.GeoDataFrame,
          units: gpd.GeoDataFrame, moves: gpd.GeoDataFrame, bounds: pd.DataFrame, summary: dict,
          scope: str = "changed", noded: gpd.GeoDataFrame | None = None) -> Plan:
    """Assemble a plan: sizes table, diff and the findings of the result (the plan is applied to a
    copy of ``city`` and checked). ``out_of_bounds`` lists the units the plan changed (``scope``
    "changed") or all its units ("all") that are outside their bounds after it; units it leaves
    as they were are listed in ``untouched_out_of_bounds``."""
    before = before.copy()
    units = units.copy()
    for g in (before, units):
        g["polsby_popper"] = polsby_popper(np.asarray(g.geometry.values)).round(4)
    sizes = _sizes(before, units, bounds)
    changes = diff(before, units)
    plan = Plan(operation, level, parent, rules.name, before, units, moves, sizes, changes,
                _findings([], crs=units.crs), summary, noded)
    found = result_findings(plan.apply(city), level, parent, rules)
    plan.findings = found
    fresh = new_findings(result_findings(city, level, parent, rules), found, rules)
    errors = fresh[fresh["severity"] == "error"]  # errors the plan made
    touched = sizes["status"].isin(["changed", "new"]) if scope == "changed" else sizes["status"] != "removed"
    out_of_bounds = sorted(sizes.index[~sizes["ok"] & touched])
    untouched = sorted(sizes.index[~sizes["ok"] & ~touched & (sizes["status"] != "removed")])
    plan.summary = {
        "operation": operation, "level": level, "parent": parent, "rule_set": rules.name,
        "units_before": int((before["status"] != "removed").sum()) if "status" in before else len(before),
        "units_after": int((units["status"] != "removed").sum()),
        "households_moved": int(moves["households"].sum()) if len(moves) else 0,
        "residents_moved": int(moves["residents"].sum()) if len(moves) else 0,
        "atoms_moved": len(moves),
        "result_errors": int(len(errors)),  # new ones: errors the city had before are not the plan's
        "result_error_codes": sorted(set(errors["code"])),
        "out_of_bounds": out_of_bounds,
        "untouched_out_of_bounds": untouched,
        **summary,
    }
    plan.summary.setdefault("causes", [])
    plan.summary["feasible"] = feasible(plan.summary)
    return plan


def feasible(summary: dict) -> bool:
    """The one rule of a feasible plan: it names no cause (what its operation could not do), leaves
    no unit it changed out of bounds, makes no new error (:func:`gis.review.new_findings`) and keeps
    every unit one connected piece.

    >>> feasible({"causes": [], "out_of_bounds": [], "result_errors": 0, "contiguous": True})
    True
    >>> feasible({"causes": ["社区 A 与其他社区均不相邻，无法合并"], "out_of_bounds": [], "result_errors": 0})
    False
    """
    return bool(not summary.get("causes") and not summary.get("out_of_bounds")
                and not summary.get("result_errors") and summary.get("contiguous", True))


def _move_children(layers: dict, level: str, moves: gpd.GeoDataFrame) -> None:
    """Set the parent code of what the moved atoms hold: the atoms themselves when they are units of
    the level below, else (enclosures of the finest level) the buildings whose representative point
    lies in a moved atom — the same rule ``atoms`` counted them by; and facilities (which name
    their community) inside a moved atom."""
    if level != LEVELS[-1]:
        child = LEVELS[LEVELS.index(level) + 1]
        col = PARENT[child][1]
        kids = layers[child]
        to = dict(zip(moves["code"], moves["to"]))
        hit = kids["code"].isin(to.keys()) & kids[col].isin(set(moves["from"]))
        kids.loc[hit, col] = kids.loc[hit, "code"].map(to)
    else:
        _follow(layers, "buildings", moves)
    if PARENT["facilities"][0] == level:
        _follow(layers, "facilities", moves)


def _follow(layers: dict, name: str, moves: gpd.GeoDataFrame) -> None:
    """Give the features of layer ``name`` whose representative point lies in a moved atom that
    atom's new unit (their parent code column)."""
    if name not in layers or not len(layers[name]) or PARENT[name][1] not in layers[name]:
        return
    f = layers[name]
    col = PARENT[name][1]
    mine = np.flatnonzero(f[col].isin(set(moves["from"])).to_numpy())
    pts = shapely.point_on_surface(np.asarray(f.geometry.values)[mine])
    pts = gpd.GeoSeries(pts, crs=f.crs).to_crs(moves.crs).values if f.crs != moves.crs else pts
    pi, mi = shapely.STRtree(np.asarray(moves.geometry.values)).query(pts, predicate="intersects")
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
    f.loc[f.index[mine[pi[first]]], col] = moves["to"].to_numpy(object)[mi[first]]


def _replace_units(lay: gpd.GeoDataFrame, after: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``lay`` with the plan's units: changed ones replaced in place, removed ones dropped, new ones
    appended; columns of ``lay`` kept (missing values None)."""
    live = after[after["status"] != "removed"]
    removed = set(after.loc[after["status"] == "removed", "code"])
    by_code = live[live["status"] != "kept"].set_index("code")  # kept units stay exactly as they were
    out = lay[~lay["code"].isin(removed)].copy()
    geom = out.geometry.name
    present = out["code"].isin(by_code.index)
    cols = [c for c in out.columns if c in by_code.columns and c not in ("code", geom)] if present.any() else []
    for c in cols:
        out.loc[present, c] = out.loc[present, "code"].map(by_code[c]).to_numpy()
    if present.any():
        out.loc[present, geom] = out.loc[present, "code"].map(by_code.geometry).to_numpy()
    new = live[~live["code"].isin(set(lay["code"]))]
    if len(new):
        add = gpd.GeoDataFrame({c: (new[c].to_numpy() if c in new else [None] * len(new)) for c in out.columns
                                if c != geom}, geometry=new.geometry.values, crs=out.crs)
        add = add.rename_geometry(geom) if geom != "geometry" else add
        out = pd.concat([out, add], ignore_index=True)
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry=geom, crs=lay.crs)


def _sizes(before: gpd.GeoDataFrame, units: gpd.GeoDataFrame, bounds: pd.DataFrame) -> pd.DataFrame:
    b = before.set_index("code")
    a = units.set_index("code")
    codes = list(dict.fromkeys([*before["code"], *units["code"]]))
    out = pd.DataFrame(index=pd.Index(codes, name="code"))
    for m in ("households", "residents"):
        out[f"{m}_before"] = b[m].reindex(codes).fillna(0).astype(np.int64)
        out[f"{m}_after"] = a[m].reindex(codes).fillna(0).astype(np.int64)
    area_b = pd.Series(shapely.area(np.asarray(before.geometry.values)), index=before["code"])
    area_a = pd.Series(shapely.area(np.asarray(units.geometry.values)), index=units["code"])
    out["area_before_m2"] = area_b.groupby(level=0).sum().reindex(codes).fillna(0).round(1)
    out["area_after_m2"] = area_a.groupby(level=0).sum().reindex(codes).fillna(0).round(1)
    out["area_change_m2"] = (out["area_after_m2"] - out["area_before_m2"]).round(1)
    out["pp_before"] = b["polsby_popper"].groupby(level=0).first().reindex(codes)
    out["pp_after"] = a["polsby_popper"].groupby(level=0).first().reindex(codes)
    out["status"] = a["status"].groupby(level=0).first().reindex(codes)
    if len(bounds):
        bd = bounds.groupby(level=0).first().reindex(codes)
        out["measure"], out["min"], out["max"] = bd["measure"], bd["min"], bd["max"]
        value = np.where(out["measure"] == "residents", out["residents_after"], out["households_after"])
        gone = (out["status"] == "removed").to_numpy()
        lo = out["min"].fillna(-np.inf).to_numpy(float)
        hi = out["max"].fillna(np.inf).to_numpy(float)
        out["ok"] = gone | ((value >= lo) & (value <= hi))
    else:
        out["ok"] = True
    return out


def diff(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, tolerance: float = 1.0) -> gpd.GeoDataFrame:
    """Areas each unit gains and loses from ``before`` to ``after`` (pieces under ``tolerance`` m²
    dropped), matched by code."""
    b = before.drop_duplicates("code").set_index("code").geometry
    a = after.drop_duplicates("code").set_index("code").geometry
    codes = np.array(list(dict.fromkeys([*b.index, *a.index])), dtype=object)
    empty = shapely.Polygon()
    gb = np.array([b.get(c, empty) for c in codes], dtype=object)
    ga = np.array([a.get(c, empty) for c in codes], dtype=object)
    gb[shapely.is_missing(gb)] = empty
    ga[shapely.is_missing(ga)] = empty
    gained = shapely.difference(ga, gb)
    lost = shapely.difference(gb, ga)
    geoms = np.r_[gained, lost]
    frame = gpd.GeoDataFrame({"unit": np.r_[codes, codes],
                              "change": np.repeat(["gained", "lost"], len(codes)).astype(object),
                              "area_m2": shapely.area(geoms).round(1)}, geometry=geoms, crs=after.crs)
    return frame[frame["area_m2"] > tolerance].reset_index(drop=True)


def result_findings(city: City, level: str, parent: str | None, rules) -> gpd.GeoDataFrame:
    """``check`` of ``parent`` (a unit of the level above ``level``) and everything under it, or of the
    whole city when ``parent`` is None (:func:`gis.review.subset`)."""
    return check(subset(city, parent, level), load_rules(rules))


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records", force_ascii=False))


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.ndarray, set, tuple)):
        return list(v)
    return str(v)

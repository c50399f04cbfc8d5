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
findings remain in the plan's findings. ``fit_parent`` does that part: it trims the units of a
level to their parents where they cross them by slivers and gives each parent's uncovered slivers
to its units, keeping buildings whole (a plan of the same kind).

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
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis.check.assignment import assign
from gis.check.level import Level, mean_width, polygonal
from gis.check.topology import nesting
from gis.findings import findings as _findings
from gis.model import LEVELS, PARENT, City
from gis.noding import ON_EDGE, node_neighbours
from gis.rules import DEFAULT_RULES, RuleSet, load_rules
from gis.simulate.atoms import PlanError
from gis.simulate.bounds import unit_bounds
from gis.simulate.plan import Plan, build, feasible

#: Precision (m) of the overlays that make fitted units: coordinates are rounded to this grid, so
#: edges that two overlays computed a hair apart become one (no hairline slivers, no necks).
GRID = ON_EDGE
#: Distance (m) under which fitted units, pieces and their neighbours meet: a piece borders a unit,
#: a vertex is where two units meet, a vertex goes into a neighbour's edge (snapped onto it).
NEAR = 1e-3

#: What a part left alone is, for the plan's causes.
LEFT = {"outside_parent": "超出上级的部分平均宽不小于 {w:g} m，不是细长条，未裁去",
        "kept_for_building": "超出上级的细长部分含本单元所属建筑的一部分，未裁去（建筑不拆分）",
        "gap": "上级内无单元覆盖的部分平均宽不小于 {w:g} m，不是细长条，未填补",
        "unfilled": "上级内无单元覆盖的细长部分未填补"}


def repair(city: City, level: str = "streets", rules: str | RuleSet = DEFAULT_RULES, *,
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
    changed = ~shapely.equals_exact(raw, cleaned, tolerance=0.0)
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
        "causes": [],
    }
    if len(holes_after):
        summary["causes"].append(f"{len(holes_after)} 处空白宽于 gap_width = {gap_width} m，未填补")
    plan = _plan(city, level, rules, units, raw, cleaned, summary)
    topo = plan.findings[(plan.findings["severity"] == "error") & (plan.findings["layer"] == level)]
    if len(topo):  # repair's own aim: errors of the level it did not remove, old ones included
        plan.summary["causes"].append("修复后仍有错误：" + ", ".join(sorted(set(topo["code"]))))
    if not plan.summary["coverage_valid"]:
        plan.summary["causes"].append("修复后仍不是有效的覆盖（GEOS coverage_is_valid）")
    plan.summary["feasible"] = feasible(plan.summary)
    return plan


def _plan(city: City, level: str, rules: RuleSet, units, raw: np.ndarray, after: np.ndarray, summary: dict) -> Plan:
    """The repair plan that gives each unit of ``units`` (the whole ``level``) the geometry ``after``
    instead of ``raw``: households counted before and after, sizes, diff, findings of the result
    and the largest area change."""
    hh0, res0 = _count(city, raw)
    hh1, res1 = _count(city, after)
    keep = [c for c in units.columns if c not in ("households", "residents", units.geometry.name)]
    changed = ~shapely.equals_exact(raw, after, tolerance=0.0)
    before = units[keep].assign(households=hh0, residents=res0, status="before").set_geometry(raw)
    new = units[keep].assign(households=hh1, residents=res1,
                             status=np.where(changed, "changed", "kept")).set_geometry(after)
    before = before.set_crs(units.crs, allow_override=True)
    new = new.set_crs(units.crs, allow_override=True)
    summary = {**summary, "households_before": int(hh0.sum()), "households_after": int(hh1.sum())}
    plan = build("repair", level, None, rules, city, before, new,
                 _no_moves(units.crs), unit_bounds(new, level, rules), summary)
    area0 = shapely.area(raw)
    change = plan.sizes["area_change_m2"].to_numpy(float)[: len(units)]
    plan.summary["max_area_change_m2"] = round(float(np.abs(change).max()), 1) if len(change) else 0.0
    plan.summary["max_area_change_pct"] = round(float((np.abs(change) / area0).max() * 100), 4) if len(change) else 0.0
    return plan


def fit_parent(city: City, level: str = "grids", rules: str | RuleSet = DEFAULT_RULES) -> Plan:
    """A plan that fits each unit of ``level`` to its parent unit (a grid to its community) where
    the two differ by slivers: a layer digitised apart from the one above it.

    1. Trim: a part of a unit outside its parent (the declared one, else the one it overlaps most:
       ``gis.check.topology.nesting``) is cut off when it is a sliver — its mean width
       2·area/perimeter (``gis.check.level.mean_width``) is under the rule set's ``sliver_width_m``.
    2. Fill: a sliver of a parent that no unit covers is cut where two of the parent's units meet on
       it (a straight line from their meeting point to the nearest point of the parent's boundary),
       and each piece goes to the parent's unit with the longest shared border.
    3. Node: vertices of the changed units and their neighbours closer than ``NEAR`` (1 mm) become
       one, and each one's vertices are inserted into the others' edges
       (:func:`gis.noding.node_neighbours`), so shared edges match vertex for vertex.

    Buildings stay whole. A building is held by the unit it overlaps most (as ``check`` assigns
    buildings to grids), and a piece holds part of a building when it overlaps it by more than the
    area tolerance (a point building: when it lies inside). A sliver outside the parent that holds
    part of a building its unit holds is not cut off; a parent's sliver is never cut through a
    building, and a piece that holds part of buildings goes, whole, to the unit holding them — it is
    left unfilled when they are held by several units or by one that does not border it.

    Left alone and listed in ``summary["left"]`` (and among the findings of the result): parts
    outside the parent that are not slivers (real errors, ``outside_parent``), slivers kept for a
    building, land of a parent no unit covers that is not a sliver (a real ``gap``) and slivers left
    unfilled.

    Parameters
    ----------
    city : City
        The city; ``level`` and the level above it must be present.
    level : str
        ``grids`` (fitted to communities) or ``communities`` (to streets).
    rules : str or RuleSet
        Rule set whose ``sliver_width_m`` tells slivers from real errors (the bundled ones say 1 m:
        pass one with a wider tolerance for layers digitised metres apart).

    Returns
    -------
    Plan
        A ``repair`` plan of the whole level (it applies like one). ``summary``: ``fit_parent``,
        ``sliver_width_m``, ``trimmed``/``trimmed_m2`` (slivers cut off), ``filled``/``filled_m2``
        (pieces given), ``left`` (one record per part left alone: ``what``, ``unit``, ``parent``,
        ``area_m2``, ``width_m``, ``why``), ``causes``; ``feasible`` when nothing is left and the
        result has no new error.

    Raises
    ------
    PlanError
        ``level`` has no level above it (``streets``), or the city lacks either layer.

    Examples
    --------
    Two communities and their grids digitised 3 m east of them:

    >>> from dataclasses import replace
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> from gis.model import City
    >>> from gis.rules import load_rules
    >>> c = gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
    ...                      crs=4548)
    >>> g = gpd.GeoDataFrame({"code": ["A1", "B1"], "community_code": ["A", "B"]},
    ...                      geometry=[box(3, 0, 103, 100), box(103, 0, 203, 100)], crs=4548)
    >>> plan = fit_parent(City({"communities": c, "grids": g}), "grids", replace(load_rules(), sliver_width=5))
    >>> [round(a.area) for a in plan.units.geometry], plan.summary["trimmed"], plan.summary["filled"]
    ([10000, 10000], 2, 2)
    """
    rules = load_rules(rules)
    if level not in PARENT or level not in LEVELS:
        raise PlanError(f"{level} has no level above it to fit to; levels that have one: {', '.join(LEVELS[1:])}")
    up, column = PARENT[level]
    for name in (level, up):
        if name not in city:
            raise PlanError(f"the city has no {name} layer")
    units = city.metric(level).reset_index(drop=True)
    lv = Level.of(units, level)
    valid = lv.geoms  # invalid ones repaired (the plan starts from them)
    par = Level.of(city.metric(up).reset_index(drop=True), up)
    pidx, inside = nesting(lv, par, column)
    held = _held(city, lv, rules)
    trimmed, stray = _trim(valid, par, pidx, inside, held, rules)
    fitted, space = _fill(trimmed, par, pidx, held, rules)
    fitted = _node(valid, fitted, pidx)
    left = _left(stray, space, lv, par, rules)
    cut, given = stray[stray["what"] == "trimmed"], space[space["what"] == "filled"]
    summary = {
        "fit_parent": True, "sliver_width_m": rules.sliver_width, "invalid_repaired": int((~lv.valid).sum()),
        "units_changed": int((~shapely.equals_exact(valid, fitted, tolerance=0.0)).sum()),
        "trimmed": len(cut), "trimmed_m2": round(float(cut["area_m2"].sum()), 1),
        "filled": len(given), "filled_m2": round(float(given["area_m2"].sum()), 1),
        "left": left, "causes": _causes(left, rules),
    }
    return _plan(city, level, rules, units, valid, fitted, summary)


def _held(city: City, lv: Level, rules: RuleSet) -> tuple[np.ndarray, np.ndarray]:
    """Footprints of the buildings and the unit of ``lv`` holding each (-1: none), by
    :func:`gis.check.assignment.assign`."""
    if "buildings" not in city or not len(city["buildings"]):
        return np.zeros(0, dtype=object), np.zeros(0, dtype=int)
    b = city.metric("buildings")
    return np.asarray(b.geometry.values), assign(b, lv, rules).grid


def _holding(pieces: np.ndarray, footprints: np.ndarray, rules: RuleSet) -> tuple[np.ndarray, np.ndarray]:
    """(piece, building) pairs where a piece holds part of a building: overlaps its footprint by
    more than the area tolerance, or has a point building in its interior."""
    if not len(pieces) or not len(footprints):
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    bi, pi = shapely.STRtree(pieces).query(footprints, predicate="intersects")
    fp = footprints[bi]
    hit = np.where(shapely.get_type_id(fp) == 0, shapely.contains_properly(pieces[pi], fp),
                   shapely.area(shapely.intersection(fp, pieces[pi])) > rules.area_tolerance)
    return pi[hit], bi[hit]


def _trim(geoms: np.ndarray, par: Level, pidx: np.ndarray, inside: np.ndarray, held, rules: RuleSet):
    """Cut the slivers outside their parent off the units (and the hairlines of overlay noise).
    Returns the new geometries and one row per part outside (``unit``, ``parent``, ``area_m2``,
    ``width_m``, ``what``: trimmed, kept_for_building or outside_parent)."""
    out = np.flatnonzero((pidx >= 0) & ~inside)
    parts, k = shapely.get_parts(polygonal(shapely.difference(geoms[out], par.geoms[pidx[out]], grid_size=GRID)),
                                 return_index=True)
    unit, width = out[k], mean_width(parts)
    pi, bi = _holding(parts, held[0], rules)
    own = np.zeros(len(parts), bool)
    own[pi[held[1][bi] == unit[pi]]] = True
    thin, real = width < rules.sliver_width, width > GRID
    cut = thin & ~own & real
    cut |= ~real & np.isin(unit, unit[cut])  # hairlines go with the slivers; alone they change nothing
    new = geoms.copy()
    if cut.any():
        who, group = np.unique(unit[cut], return_inverse=True)
        new[who] = _solid(shapely.difference(geoms[who], shapely.multipolygons(parts[cut], indices=group),
                                             grid_size=GRID))
    what = np.where(cut, "trimmed", np.where(thin, "kept_for_building", "outside_parent"))
    return new, pd.DataFrame({"unit": unit, "parent": pidx[unit], "area_m2": shapely.area(parts),
                              "width_m": width, "what": what, "why": ""})[real]


def _fill(geoms: np.ndarray, par: Level, pidx: np.ndarray, held, rules: RuleSet):
    """Give the slivers of each parent that no unit covers to the parent's units. Returns the new
    geometries and one row per uncovered piece (``unit`` -1, ``parent``, ``area_m2``, ``width_m``,
    ``what``: filled, unfilled or gap; ``why`` not filled)."""
    covered = shapely.union_all(geoms, grid_size=GRID)
    space = shapely.get_parts(polygonal(np.array([shapely.difference(par.union, covered, grid_size=GRID)]))[0])
    si, pj = par.tree.query(space, predicate="intersects")
    pieces, k = shapely.get_parts(polygonal(shapely.intersection(space[si], par.geoms[pj], grid_size=GRID)),
                                  return_index=True)
    width = mean_width(pieces)
    real = width > GRID  # not a hairline of overlay noise
    pieces, owner, width = pieces[real], pj[k[real]], width[real]
    rows = pd.DataFrame({"unit": -1, "parent": owner, "area_m2": shapely.area(pieces), "width_m": width,
                         "what": np.where(width < rules.sliver_width, "filled", "gap"), "why": ""})
    thin = np.flatnonzero(width < rules.sliver_width)
    faces, of = _split(pieces[thin], owner[thin], geoms, pidx, par, held[0])
    to, why = _receivers(faces, owner[thin][of], geoms, pidx, held, rules)
    new = geoms.copy()
    got = to >= 0
    if got.any():
        receivers = np.unique(to[got])
        who, merged = _union_by(np.r_[geoms[receivers], faces[got]], np.r_[receivers, to[got]])
        new[who] = _solid(merged)
    missed = pd.Series(why[~got], index=thin[of[~got]])
    if len(missed):
        missed = missed.groupby(level=0).agg(lambda w: "；".join(sorted(set(w))))
        rows.loc[missed.index, "what"] = "unfilled"
        rows.loc[missed.index, "why"] = missed.to_numpy()
    return new, rows


def _split(pieces: np.ndarray, owner: np.ndarray, geoms: np.ndarray, pidx: np.ndarray, par: Level,
           footprints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut each piece where two units of its parent meet on its boundary, by the shortest line from
    that point to the parent's boundary; a cut that would leave the piece or cross a building is
    not made. Returns the faces and the index of the piece each comes from."""
    pi, u = _bordering(pieces, owner, geoms, pidx)
    xy, r = shapely.get_coordinates(geoms[u], return_index=True)
    at = shapely.dwithin(shapely.points(xy), shapely.boundary(pieces[pi[r]]), NEAR)
    corners = pd.DataFrame({"piece": pi[r[at]], "x": xy[at, 0], "y": xy[at, 1]})
    corners = corners[~corners.assign(x=(corners["x"] / NEAR).round(), y=(corners["y"] / NEAR).round())
                      .duplicated()].reset_index(drop=True)
    pts = shapely.points(corners[["x", "y"]].to_numpy())
    qi, qu = shapely.STRtree(geoms).query(pts, predicate="dwithin", distance=NEAR)
    meet = pd.DataFrame({"piece": corners["piece"].to_numpy()[qi], "unit": qu, "pt": qi}) \
        .merge(pd.DataFrame({"piece": pi, "unit": u})).groupby("pt")["unit"].nunique()
    p = meet.index[meet.to_numpy() >= 2].to_numpy()
    of = corners["piece"].to_numpy()[p]
    cuts = shapely.shortest_line(pts[p], shapely.boundary(par.geoms[owner[of]]))
    ok = (shapely.length(cuts) > NEAR) & shapely.covered_by(cuts, shapely.buffer(pieces[of], NEAR))
    if len(footprints):
        ci, bi = shapely.STRtree(footprints).query(cuts, predicate="intersects")
        ok[ci[~shapely.touches(cuts[ci], footprints[bi])]] = False
    cuts, of = _extend(cuts[ok]), of[ok]
    split = np.unique(of)
    if not len(split):
        return pieces, np.arange(len(pieces))
    whole = np.setdiff1d(np.arange(len(pieces)), split)
    lines = shapely.get_parts(shapely.union_all(np.r_[shapely.boundary(pieces[split]), cuts]))
    faces = shapely.get_parts(shapely.polygonize(lines))
    fi, si = shapely.STRtree(pieces[split]).query(shapely.point_on_surface(faces), predicate="within")
    return np.r_[pieces[whole], faces[fi]], np.r_[whole, split[si]]


def _extend(lines: np.ndarray, by: float = NEAR) -> np.ndarray:
    """Two-point ``lines`` lengthened by ``by`` at both ends (so they cross the boundaries they end on)."""
    xy = shapely.get_coordinates(lines).reshape(-1, 2, 2)
    d = xy[:, 1] - xy[:, 0]
    d /= np.hypot(d[:, 0], d[:, 1])[:, None]
    return shapely.linestrings(np.stack([xy[:, 0] - by * d, xy[:, 1] + by * d], axis=1))


def _bordering(pieces: np.ndarray, owner: np.ndarray, geoms: np.ndarray, pidx: np.ndarray):
    """(piece, unit) pairs of the units of each piece's parent that touch it."""
    pi, u = shapely.STRtree(geoms).query(pieces, predicate="dwithin", distance=NEAR)
    same = pidx[u] == owner[pi]
    return pi[same], u[same]


def _receivers(faces: np.ndarray, owner: np.ndarray, geoms: np.ndarray, pidx: np.ndarray, held, rules: RuleSet):
    """The unit each face goes to (-1: none) and why none: the unit of its parent holding the
    buildings it holds part of, else the one with the longest shared border."""
    fi, u = _bordering(faces, owner, geoms, pidx)
    border = shapely.length(shapely.intersection(shapely.boundary(faces[fi]), shapely.buffer(geoms[u], NEAR)))
    shared = border > 4 * NEAR  # more than the ends of the buffer at a corner
    fi, u, border = fi[shared], u[shared], border[shared]
    to = np.full(len(faces), -1)
    order = np.lexsort((-border, fi))
    first = order[np.r_[True, fi[order][1:] != fi[order][:-1]]] if len(fi) else order
    to[fi[first]] = u[first]
    why = np.where(to >= 0, "", "同一上级内没有单元与之相邻").astype(object)
    hf, hb = _holding(faces, held[0], rules)
    holder = held[1][hb]
    hf, holder = hf[holder >= 0], holder[holder >= 0]
    for f in np.unique(hf):  # faces holding part of a building: few
        units = set(holder[hf == f].tolist())
        if len(units) == 1 and units <= set(u[fi == f].tolist()):
            to[f], why[f] = units.pop(), ""
        else:
            to[f] = -1
            why[f] = "含分属多个单元的建筑" if len(units) > 1 else "含建筑的一部分，该建筑所属单元不在同一上级内或不与之相邻"
    return to, why


def _union_by(geoms: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of ``geoms`` per group: the groups and their unions (one ``union_all`` over the rows
    of a table padded with None, which it ignores)."""
    keys, inv = np.unique(groups, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    start = np.r_[0, np.cumsum(np.bincount(inv))[:-1]]
    rank = np.empty(len(inv), int)
    rank[order] = np.arange(len(inv)) - start[inv[order]]
    table = np.full((len(keys), rank.max() + 1), None, dtype=object)
    table[inv, rank] = geoms
    return keys, shapely.union_all(table, axis=1, grid_size=GRID)


def _node(before: np.ndarray, geoms: np.ndarray, pidx: np.ndarray) -> np.ndarray:
    """``geoms`` with the changed ones (not equal to ``before``) and the units they touch noded: their
    vertices closer than ``NEAR`` made one (:func:`_merge_vertices`), then each one's vertices
    inserted into the others' edges (:func:`gis.noding.node_neighbours`), so shared edges match
    vertex for vertex; what that leaves invalid is repaired and parts it cuts off are reattached
    (:func:`_reattach`)."""
    changed = np.flatnonzero(~shapely.equals_exact(before, geoms, tolerance=0.0))
    if not len(changed):
        return geoms
    out = geoms.copy()
    near = np.unique(shapely.STRtree(out).query(out[changed], predicate="dwithin", distance=NEAR)[1])
    out[near] = _merge_vertices(out[near], ~np.isin(near, changed))
    out[near] = node_neighbours(out[near], out[near], NEAR)
    bad = near[~shapely.is_valid(out[near])]  # parts a hair apart made one, a neck closed
    out[bad] = shapely.make_valid(out[bad], method="structure", keep_collapsed=False)
    out[near] = _solid(out[near])
    return _reattach(out, before, changed, pidx)


def _reattach(geoms: np.ndarray, before: np.ndarray, changed: np.ndarray, pidx: np.ndarray) -> np.ndarray:
    """Parts a changed unit has beyond as many as it had (a lobe of a sliver it got through a neck
    narrower than ``NEAR``, which the noding closed) go to the unit of the same parent they share
    the longest border with; they stay where there is none."""
    grew = changed[shapely.get_num_geometries(geoms[changed]) > shapely.get_num_geometries(before[changed])]
    if not len(grew):
        return geoms
    parts, k = shapely.get_parts(geoms[grew], return_index=True)
    order = np.lexsort((-shapely.area(parts), k))
    rank = np.empty(len(k), int)
    rank[order] = np.arange(len(k)) - np.searchsorted(k[order], k[order])
    extra = rank >= shapely.get_num_geometries(before[grew])[k]
    bits, owner = parts[extra], grew[k[extra]]
    bi, u = shapely.STRtree(geoms).query(bits, predicate="dwithin", distance=NEAR)
    mine = (u != owner[bi]) & (pidx[u] == pidx[owner[bi]])
    bi, u = bi[mine], u[mine]
    border = shapely.length(shapely.intersection(shapely.boundary(bits[bi]), shapely.buffer(geoms[u], NEAR)))
    order = np.lexsort((-border, bi))
    first = order[np.r_[True, bi[order][1:] != bi[order][:-1]]] if len(bi) else order
    first = first[border[first] > 4 * NEAR]
    if not len(first):
        return geoms
    out = geoms.copy()
    moved = np.zeros(len(parts), bool)
    moved[np.flatnonzero(extra)[bi[first]]] = True
    out[grew] = _collect(parts[~moved], k[~moved], len(grew))
    to = u[first]
    who, merged = _union_by(np.r_[out[np.unique(to)], bits[bi[first]]], np.r_[np.unique(to), to])
    out[who] = _solid(merged)
    return out


def _solid(geoms: np.ndarray) -> np.ndarray:
    """The polygonal part of each geometry without the hairline parts (mean width under ``GRID``)
    that rounding and snapping can leave."""
    parts, k = shapely.get_parts(polygonal(geoms), return_index=True)
    keep = mean_width(parts) > GRID
    return _collect(parts[keep], k[keep], len(geoms))


def _collect(parts: np.ndarray, k: np.ndarray, n: int) -> np.ndarray:
    """``n`` geometries from polygons ``parts`` of geometry ``k`` (sorted): a Polygon where one, a
    MultiPolygon where several, empty where none."""
    out = np.full(n, shapely.Polygon(), dtype=object)
    who, group = np.unique(k, return_inverse=True)
    if len(who):
        multi = shapely.multipolygons(parts, indices=group)
        out[who] = np.where(shapely.get_num_geometries(multi) == 1, shapely.get_geometry(multi, 0), multi)
    return out


def _merge_vertices(geoms: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """``geoms`` with every cluster of vertices closer than ``NEAR`` to each other (two overlays'
    versions of one point) moved onto one of them, a vertex of a ``fixed`` geometry if any; repeated
    vertices dropped."""
    xy, k = shapely.get_coordinates(geoms, return_index=True)
    pts = shapely.points(xy)
    a, b = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=NEAR)
    _, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(len(xy), len(xy))), directed=False)
    order = np.lexsort((np.arange(len(xy)), ~fixed[k]))[::-1]  # written last: a fixed one, then the first
    first = np.empty(label.max() + 1, int)
    first[label[order]] = order
    return shapely.remove_repeated_points(shapely.set_coordinates(geoms.copy(), xy[first[label]]), 0.0)


def _left(stray: pd.DataFrame, space: pd.DataFrame, lv: Level, par: Level, rules: RuleSet) -> list[dict]:
    """The parts left alone (above the area tolerance), one record each: ``what``, ``unit`` (None
    for land no unit covers), ``parent``, ``area_m2``, ``width_m``, ``why``."""
    rows = pd.concat([stray, space], ignore_index=True)
    rows = rows[rows["what"].isin(list(LEFT)) & (rows["area_m2"] > rules.area_tolerance)]
    return [{"what": r.what, "unit": lv.codes[r.unit] if r.unit >= 0 else None, "parent": par.codes[r.parent],
             "area_m2": round(float(r.area_m2), 1), "width_m": round(float(r.width_m), 2), "why": r.why}
            for r in rows.itertuples()]


def _causes(left: list[dict], rules: RuleSet) -> list[str]:
    """One line per kind of part left alone, naming each (its unit, else its parent), its area and
    width."""
    lines = []
    for what in LEFT:
        rows = [r for r in left if r["what"] == what]
        if rows:
            each = "、".join(f"{r['unit'] or r['parent']}（{r['area_m2']:,.1f} m²，宽 {r['width_m']:.1f} m"
                            f"{'：' + r['why'] if r['why'] else ''}）" for r in rows)
            lines.append(f"{len(rows)} 处{LEFT[what].format(w=rules.sliver_width)}：{each}")
    return lines


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


__all__ = ["fit_parent", "repair", "_findings"]

"""Topology checks of one level and across levels: 不交叉、不跨社区、地无空白.

Each function takes a :class:`gis.check.level.Level` (metric CRS) and the rule set and returns
finding rows (dicts in the columns of :mod:`gis.findings`). The coverage is validated with GEOS
(``shapely.coverage_invalid_edges``); pairwise work is done only for units whose edges GEOS flags,
so a clean layer costs little more than that validation.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> from gis.check.level import Level
>>> from gis.rules import load_rules
>>> g = gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[box(0, 0, 10, 10), box(8, 0, 20, 10)], crs=3857)
>>> [(r["code"], r["ids"], r["area_m2"]) for r in overlaps(Level.of(g, "grids"), load_rules())]
[('overlap', ['A', 'B'], 20.0)]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gis.check.level import Level, chunked, mean_width, polygonal
from gis.findings import finding
from gis.model import LABELS
from gis.rules import RuleSet


def _row(code, level, rules, rule, ids, geometry, message, **columns):
    return finding(code, level.name, ids, geometry, message, rule=rule, source=rules.principle(rule)[0], **columns)


def invalid_geometry(level: Level, rules: RuleSet) -> list[dict]:
    """Units whose geometry is not valid (OGC simple features), with GEOS's reason."""
    bad = np.flatnonzero(~level.valid)
    raw = level.units.geometry.values[bad]
    reasons = shapely.is_valid_reason(raw)
    return [_row("invalid_geometry", level, rules, "几何有效", [level.codes[i]], g,
                 f"{level.label(i)} 几何无效：{r}") for i, g, r in zip(bad, raw, reasons)]


def duplicate_ids(level: Level, rules: RuleSet, parts=None) -> list[dict]:
    """Codes used by more than one unit of the level (one code on different names), and units whose
    features overlap each other (copies, not parts: ``parts`` of :func:`gis.reading.dissolve_parts`,
    in the metric CRS)."""
    codes = level.units["code"]
    dup = codes[codes.duplicated(keep=False) & codes.notna()]
    kind = LABELS.get(level.name, level.name)
    rows = []
    for code, idx in dup.groupby(dup).groups.items():
        idx = np.asarray(idx)
        names = level.units["name"].iloc[idx].dropna().unique() if "name" in level.units else []
        called = f"：{'、'.join(map(str, names))}" if len(names) > 1 else ""
        rows.append(_row("duplicate_id", level, rules, "编码唯一", [code], shapely.union_all(level.geoms[idx]),
                         f"{kind}编码 {code} 重复 {len(idx)} 次{called}", value=float(len(idx)), limit=1.0))
    if parts is not None:
        copies = parts[parts["overlap_m2"] > rules.area_tolerance]
        at = pd.Series(np.arange(len(level.codes)), index=level.codes)
        at = at[~at.index.duplicated()]
        for r in copies.itertuples():
            rows.append(_row("duplicate_id", level, rules, "编码唯一", [r.code], r.geometry,
                             f"{level.label(at[r.code])} 存储为 {r.features} 个要素，其间重叠 {r.overlap_m2:.1f} m²："
                             "是副本，不是组成部分", area=float(r.overlap_m2), value=float(r.features), limit=1.0))
    return rows


def orphans(level: Level, parent: Level, column: str, nest: tuple[np.ndarray, np.ndarray],
            rules: RuleSet) -> list[dict]:
    """Units whose parent code names no unit of the parent level (or is blank and the unit lies in
    none); the message and ``lies_in`` name the parent unit it lies mostly in (``nesting``)."""
    if column not in level.units:
        return []
    declared = level.units[column]
    bad = np.flatnonzero(~declared.isin(set(parent.codes)).to_numpy())
    plabel = LABELS.get(parent.name, parent.name)
    pidx = nest[0]
    rows = []
    for i in bad:
        code = declared.iloc[i]
        said = f"的上级{plabel}编码 {code} 不存在" if code is not None else f"的上级{plabel}编码为空"
        where = f"，位于 {parent.label(pidx[i])}" if pidx[i] >= 0 else f"，且不在任何{plabel}内"
        rows.append(_row("orphan", level, rules, "不跨社区", [level.codes[i]], level.geoms[i],
                         f"{level.label(i)} {said}{where}", parent=code,
                         lies_in=parent.codes[pidx[i]] if pidx[i] >= 0 else None))
    return rows


def overlaps(level: Level, rules: RuleSet) -> list[dict]:
    """Overlaps between units (不交叉), thin ones as slivers, and unmatched shared edges (warning).

    Only units with edges flagged by ``shapely.coverage_invalid_edges`` are compared pairwise.
    """
    geoms, tol = level.geoms, rules.area_tolerance
    invalid = level.invalid_edges
    cand = np.flatnonzero(~shapely.is_empty(invalid))
    if not len(cand):
        return []
    q, b = level.tree.query(geoms[cand], predicate="intersects")
    a = cand[q]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(np.stack([lo, hi], axis=1)[lo != hi], axis=0)
    if not len(pairs):
        return []
    a, b = pairs[:, 0], pairs[:, 1]
    inter = polygonal(shapely.intersection(geoms[a], geoms[b]))
    area = shapely.area(inter)
    width = mean_width(inter)
    rows = []
    for k in np.flatnonzero(area > tol):
        i, j = a[k], b[k]
        thin = width[k] < rules.sliver_width
        what = f"细长重叠（平均宽 {width[k]:.2f} m）" if thin else "重叠"
        rows.append(_row("sliver" if thin else "overlap", level, rules, "不交叉", [level.codes[i], level.codes[j]],
                         inter[k], f"{level.label(i)} 与 {level.label(j)} {what} {area[k]:.1f} m²",
                         area=float(area[k]), value=float(width[k]) if thin else None,
                         limit=rules.sliver_width if thin else None))
    # pairs that do not overlap but whose shared edges do not match vertex by vertex
    rest = np.flatnonzero(area <= tol)
    if len(rest):
        rows += _unmatched(level, a[rest], b[rest], invalid, rules)
    return rows


def _segments(lines: np.ndarray, owners: np.ndarray) -> pd.DataFrame:
    """The straight segments of ``lines`` (one row each: owner, x0, y0, x1, y1)."""
    parts, of = shapely.get_parts(lines, return_index=True)
    coords, k = shapely.get_coordinates(parts, return_index=True)
    same = k[1:] == k[:-1]
    return pd.DataFrame({"owner": owners[of[k[:-1][same]]], "x0": coords[:-1][same, 0], "y0": coords[:-1][same, 1],
                         "x1": coords[1:][same, 0], "y1": coords[1:][same, 1]})


def _unmatched(level: Level, a: np.ndarray, b: np.ndarray, invalid: np.ndarray, rules: RuleSet) -> list[dict]:
    """Unmatched shared edges of neighbouring pairs (a, b).

    A flagged segment of one unit belongs to the pair when it runs along the other unit's boundary:
    its ends and middle lie within ``sliver_width`` of it. Segments crossing into a neighbour
    (overlaps) or touching it at one point (a corner) are not attributed.
    """
    used = np.unique(np.r_[a, b])
    segs = _segments(invalid[used], used)
    if not len(segs):
        return []
    pairs = pd.DataFrame({"owner": np.r_[a, b], "other": np.r_[b, a], "pair": np.r_[np.arange(len(a)), np.arange(len(a))]})
    s = segs.merge(pairs, on="owner")
    bnd = shapely.boundary(level.geoms[s["other"].to_numpy()])
    x0, y0, x1, y1 = (s[c].to_numpy() for c in ("x0", "y0", "x1", "y1"))
    far = np.max([shapely.distance(shapely.points(x, y), bnd)
                  for x, y in ((x0, y0), (x1, y1), ((x0 + x1) / 2, (y0 + y1) / 2))], axis=0)
    s = s[far <= rules.sliver_width]
    rows = []
    for p, seg in s.groupby("pair"):
        i, j = a[p], b[p]
        lines = shapely.linestrings(np.stack([seg[["x0", "y0"]].to_numpy(), seg[["x1", "y1"]].to_numpy()], axis=1))
        length = float(shapely.length(lines).sum())
        rows.append(_row("unmatched_edges", level, rules, "不交叉", [level.codes[i], level.codes[j]],
                         shapely.line_merge(shapely.multilinestrings(lines)),
                         f"{level.label(i)} 与 {level.label(j)} 的共用边界顶点不一致（{length:.1f} m）",
                         value=length))
    return rows


def gaps(level: Level, rules: RuleSet, parent: Level | None = None) -> list[dict]:
    """Land of the parent level not covered by this level (地无空白); without a parent, the holes
    inside the level's outline. Thin gaps are reported as slivers."""
    union = level.union
    if parent is not None:
        space = shapely.difference(parent.union, union)
    else:
        holes = [shapely.Polygon(r) for p in shapely.get_parts(union) for r in p.interiors]
        space = shapely.MultiPolygon(holes) if holes else shapely.Polygon()
    parts = shapely.get_parts(polygonal(np.array([space]))[0])
    parts = parts[shapely.area(parts) > rules.area_tolerance]
    if not len(parts):
        return []
    owner = parent.owner(parts) if parent is not None else np.full(len(parts), -1)
    g, u = level.tree.query(parts, predicate="intersects")
    width = mean_width(parts)
    rows = []
    for k, part in enumerate(parts):
        ids = sorted(level.codes[u[g == k]].tolist())
        area = float(shapely.area(part))
        thin = width[k] < rules.sliver_width
        where = f"{parent.label(owner[k])} 内" if owner[k] >= 0 else f"{LABELS.get(level.name, level.name)}之间"
        what = f"细长空白（平均宽 {width[k]:.2f} m）" if thin else "空白"
        rows.append(_row("sliver" if thin else "gap", level, rules, "地无空白", ids, part,
                         f"{where}有 {area:.1f} m² {what}，未被{LABELS.get(level.name, level.name)}覆盖",
                         parent=parent.codes[owner[k]] if owner[k] >= 0 else None, area=area,
                         value=float(width[k]) if thin else None, limit=rules.sliver_width if thin else None))
    return rows


def nesting(level: Level, parent: Level, column: str) -> tuple[np.ndarray, np.ndarray]:
    """The parent index of each unit and whether the unit lies inside it.

    The parent is the declared one (``column``), or the one overlapping most when the declared code
    names none (-1 when the unit overlaps no parent).
    """
    lookup = pd.Series(np.arange(len(parent.codes)), index=parent.codes)
    lookup = lookup[~lookup.index.duplicated(keep="last")]
    declared = level.units[column].to_numpy() if column in level.units else np.full(len(level.geoms), None)
    pidx = lookup.reindex(declared).fillna(-1).to_numpy(dtype=int, copy=True)
    missing = np.flatnonzero(pidx < 0)
    if len(missing):
        q, p = parent.tree.query(level.geoms[missing], predicate="intersects")
        if len(q):
            area = shapely.area(shapely.intersection(level.geoms[missing[q]], parent.geoms[p]))
            order = np.lexsort((-area, q))
            first = order[np.r_[True, q[order][1:] != q[order][:-1]]]
            pidx[missing[q[first]]] = p[first]
    inside = np.zeros(len(pidx), dtype=bool)
    has = np.flatnonzero(pidx >= 0)
    shapely.prepare(parent.geoms)
    inside[has] = chunked(shapely.covered_by, level.geoms[has], parent.geoms[pidx[has]])
    return pidx, inside


def outside_parent(level: Level, parent: Level, nest: tuple[np.ndarray, np.ndarray], rules: RuleSet) -> list[dict]:
    """Parts of units lying outside their parent (不跨社区), given their ``nesting``. A unit lying
    mostly (over half its area) in another unit of the parent level is a code error rather than a
    stray boundary: the message says so and ``lies_in`` holds that unit's code."""
    pidx, inside = nest
    out = np.flatnonzero((pidx >= 0) & ~inside)
    if not len(out):
        return []
    stray = polygonal(shapely.difference(level.geoms[out], parent.geoms[pidx[out]]))
    area = shapely.area(stray)
    width = mean_width(stray)
    most, share = _mostly_in(level.geoms[out], parent)
    rows = []
    for k in np.flatnonzero(area > rules.area_tolerance):
        i = out[k]
        thin = width[k] < rules.sliver_width
        elsewhere = most[k] >= 0 and most[k] != pidx[i] and share[k] > 0.5
        if elsewhere:
            message = (f"{level.label(i)} 声明属于 {parent.label(pidx[i])}，{share[k]:.0%} 位于 "
                       f"{parent.label(most[k])}（{area[k]:.1f} m² 在所属之外）")
        else:
            what = f"细长部分（平均宽 {width[k]:.2f} m）" if thin else "部分"
            message = f"{level.label(i)} 有 {area[k]:.1f} m² {what}超出所属 {parent.label(pidx[i])}"
        rows.append(_row("sliver" if thin and not elsewhere else "outside_parent", level, rules, "不跨社区",
                         [level.codes[i]], stray[k], message, parent=parent.codes[pidx[i]], area=float(area[k]),
                         value=float(width[k]) if thin else None, limit=rules.sliver_width if thin else None,
                         lies_in=parent.codes[most[k]] if elsewhere else None))
    return rows


def _mostly_in(geoms: np.ndarray, parent: Level) -> tuple[np.ndarray, np.ndarray]:
    """For each geometry, the parent unit holding the largest share of its area (-1 if none), and
    that share."""
    q, p = parent.tree.query(geoms, predicate="intersects")
    most, share = np.full(len(geoms), -1), np.zeros(len(geoms))
    if not len(q):
        return most, share
    area = shapely.area(shapely.intersection(geoms[q], parent.geoms[p]))
    order = np.lexsort((-area, q))
    first = order[np.r_[True, q[order][1:] != q[order][:-1]]]
    most[q[first]] = p[first]
    total = shapely.area(geoms)
    share[q[first]] = np.divide(area[first], total[q[first]], out=np.zeros(len(first)), where=total[q[first]] > 0)
    return most, share


def multiparts(level: Level, rules: RuleSet, parts=None) -> list[dict]:
    """Units made of several separate pieces (a unit should be one contiguous area), or stored in
    several features (``parts`` of :func:`gis.reading.dissolve_parts`; their copies are
    ``duplicate_ids``); the geometry is every piece but the largest."""
    n = shapely.get_num_geometries(level.geoms)
    stored = pd.Series(1, index=level.codes) if parts is None or not len(parts) else \
        parts.set_index("code")["features"].where(parts.set_index("code")["overlap_m2"] <= rules.area_tolerance, 1)
    features = stored.reindex(level.codes).fillna(1).astype(int).to_numpy()
    rows = []
    for i in np.flatnonzero((n > 1) | (features > 1)):
        pieces = shapely.get_parts(level.geoms[i])
        rest = np.delete(pieces, np.argmax(shapely.area(pieces)))
        shape = f"由 {n[i]} 块不相连的部分组成" if n[i] > 1 else "各部分相连，合为一块"
        stored_in = f"存储为 {features[i]} 个要素，" if features[i] > 1 else ""
        rows.append(_row("multipart", level, rules, "单元完整", [level.codes[i]], shapely.union_all(rest),
                         f"{level.label(i)} {stored_in}{shape}",
                         area=float(shapely.area(rest).sum()), value=float(n[i]), limit=1.0))
    return rows

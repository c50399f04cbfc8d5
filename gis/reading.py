"""The reading rule: what the features of a real export become as units (DESIGN.md, "Data model").

Real layers come with defects in single features and with units stored in several features. A
defect of one feature is a finding, never a refusal; :func:`gis.io.read_city` applies these steps:

- :func:`screen`: a feature with an empty, missing or non-polygonal geometry is left out of its
  layer and becomes an ``empty_geometry`` or ``invalid_geometry`` finding naming it by its name and
  source row (a geometry collection keeps its polygonal part); a unit whose code is blank gets the
  code ``row-N`` (N its row in the layer) and a ``missing_code`` finding, so no finding lists an
  empty id.
- :func:`dissolve_parts`: features with the same code and the same name (or the same code, where a
  feature has no name) are one unit, its geometry their union. Real exports store a unit's
  disjoint parts (exclaves) as separate features; ``check`` reports such a unit once, as a
  ``multipart`` warning, or as a ``duplicate_id`` when its features overlap each other (copies,
  not parts). One code on different names stays several units: a ``duplicate_id``.
- :func:`link_parents`: a parent code given as the parent's name takes the parent's code; a blank
  parent code is placed by location (largest overlap) with a ``parent_inferred`` warning.

Finding rows made here carry their ``rule`` but no ``source``: ``check`` takes the source from
its rule set. Their geometry is in the layer's CRS.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> g = gpd.GeoDataFrame({"code": ["A", "A", None], "name": ["甲", "甲", "乙"],
...                       "_row": ["第 1 行", "第 2 行", "第 3 行"]},
...                      geometry=[box(0, 0, 1, 1), box(5, 0, 6, 1), box(1, 0, 2, 1)], crs=3857)
>>> g, rows = screen(g, "grids")
>>> g["code"].tolist(), [r["code"] for r in rows]
(['A', 'A', 'row-3'], ['missing_code'])
>>> units, parts = dissolve_parts(g, g)
>>> units["code"].tolist(), units.geom_type.tolist(), parts[["code", "features"]].values.tolist()
(['A', 'row-3'], ['MultiPolygon', 'Polygon'], [['A', 2]])
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.check.level import polygonal
from gis.findings import finding
from gis.model import GEOMETRY, LABELS, LEVELS, PARENT

#: Column holding each feature's source row ("grids.shp 第 12 行") while a layer is read.
ROW = "_row"
#: Column noting, while a layer is read, the counts of each feature that could not be read
#: (``gis.io``): ``(column, value as given)`` pairs.
INVALID = "_invalid"
#: Counts whose values, where a unit's features differ, are the parts' own and are summed.
COUNTS = ("households", "residents")


def blank(values) -> np.ndarray:
    """True where a code is missing: None, NaN or text of only whitespace.

    >>> blank(pd.Series(["A", " ", None, float("nan")])).tolist()
    [False, True, True, True]
    """
    s = pd.Series(values, dtype=object)
    return (s.isna() | s.astype(str).str.strip().eq("")).to_numpy()


def _label(gdf: gpd.GeoDataFrame, layer: str, i: int) -> str:
    """'网格 第3网格(G3)（grids.shp 第 12 行）': feature ``i`` for messages."""
    name = gdf["name"].iloc[i] if "name" in gdf else None
    code = gdf["code"].iloc[i] if "code" in gdf else None
    code = None if blank([code])[0] else code
    head = f"{name}({code})" if isinstance(name, str) and name.strip() and code else (name or code or "")
    where = f"（{gdf[ROW].iloc[i]}）" if ROW in gdf else ""
    return f"{LABELS.get(layer, layer)} {head}".rstrip() + where


def screen(gdf: gpd.GeoDataFrame, layer: str) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Take the features ``check`` cannot measure out of ``gdf`` and give blank unit codes a code.

    Returns the layer to keep and the finding rows: ``empty_geometry`` (a missing or empty
    geometry), ``invalid_geometry`` (a geometry of the wrong type; a collection with polygonal
    parts keeps them), ``missing_code`` (a unit whose code is blank; it is kept as ``row-N``).
    Defects of the roads, barriers and facilities are warnings: they do not break the four
    principles.
    """
    severity = "error" if layer in (*LEVELS, "buildings") else "warning"
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    missing = shapely.is_missing(geoms)
    empty = missing | shapely.is_empty(geoms)
    types = np.asarray(shapely.get_type_id(geoms))
    allowed = [shapely.GeometryType[t.upper()].value for t in GEOMETRY[layer]]
    wrong = ~empty & ~np.isin(types, allowed)
    polygons = "Polygon" in GEOMETRY[layer]
    mixed = wrong & (types == shapely.GeometryType.GEOMETRYCOLLECTION) if polygons else np.zeros(len(geoms), bool)
    if mixed.any():
        kept = polygonal(geoms[mixed])
        geoms = geoms.copy()
        geoms[mixed] = kept
        mixed[mixed] = ~shapely.is_empty(kept)
    rows = []
    what = "面" if polygons else "线" if "LineString" in GEOMETRY[layer] else "点或面"
    for i in np.flatnonzero(empty):
        state = "缺失" if missing[i] else "为空"
        rows.append(finding("empty_geometry", layer, [_id(gdf, layer, i)], None,
                            f"{_label(gdf, layer, i)}几何{state}，未参与检查", rule="几何有效",
                            severity=severity))
    for i in np.flatnonzero(wrong):
        name = gdf.geom_type.iloc[i]
        fate = "只取其中的面" if mixed[i] else "未参与检查"
        rows.append(finding("invalid_geometry", layer, [_id(gdf, layer, i)], geoms[i] if mixed[i] else None,
                            f"{_label(gdf, layer, i)}几何为 {name}，应为{what}，{fate}", rule="几何有效",
                            severity=severity))
    if INVALID in gdf:
        rows += _invalid_values(gdf, layer, severity)
    keep = ~empty & (~wrong | mixed)
    out = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)) if mixed.any() else gdf
    out = out[keep].copy()
    if "code" in out:
        no_code = blank(out["code"])
        if layer in LEVELS:
            for i in np.flatnonzero(no_code):
                rows.append(finding("missing_code", layer, [_placeholder(out, i)], out.geometry.values[i],
                                    f"{_label(out, layer, i)}编码为空，暂记为 {_placeholder(out, i)}",
                                    rule="编码唯一"))
        out["code"] = pd.Series([_placeholder(out, i) if b else str(c).strip() for i, (b, c) in
                                 enumerate(zip(no_code, out["code"]))], index=out.index, dtype=object)
    return out, rows


def _invalid_values(gdf: gpd.GeoDataFrame, layer: str, severity: str) -> list[dict]:
    """``invalid_value`` findings of the counts noted in ``INVALID``: a blank one is a warning
    (read as 0), text or a negative or fractional number an error (also read as 0)."""
    rows = []
    for i, cells in enumerate(gdf[INVALID]):
        if not isinstance(cells, tuple):
            continue
        for col, value in cells:
            empty = blank([value])[0]
            said = "为空" if empty else f"为 {value!r}，不是不小于 0 的整数"
            rows.append(finding("invalid_value", layer, [_id(gdf, layer, i)], gdf.geometry.values[i],
                                f"{_label(gdf, layer, i)}{WORDS.get(col, col)}{said}，按 0 计", rule="人无遗漏",
                                severity="warning" if empty else severity, value=None))
    return rows


#: Chinese names of the counts, for messages.
WORDS = {"households": "户数", "residents": "人口", "floor_area_m2": "建筑面积"}


def _row_number(gdf: gpd.GeoDataFrame, i: int) -> int:
    """The 1-based row of feature ``i`` in the layer as read (its index after reading)."""
    return int(gdf.index[i]) + 1


def _placeholder(gdf: gpd.GeoDataFrame, i: int) -> str:
    return f"row-{_row_number(gdf, i)}"


def _id(gdf: gpd.GeoDataFrame, layer: str, i: int) -> str:
    """The id a finding of feature ``i`` lists: its code, else ``row-N``."""
    code = gdf["code"].iloc[i] if "code" in gdf else None
    return _placeholder(gdf, i) if blank([code])[0] else str(code).strip()


def _groups(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """The unit of each feature: the index of its first feature with the same code and name (a
    feature without a name joins the one named unit of its code)."""
    codes = gdf["code"].astype(object).to_numpy()
    names = gdf["name"].astype(object).to_numpy() if "name" in gdf else np.full(len(codes), None)
    named = ~blank(names)
    names = np.where(named, pd.Series(names, dtype=object).astype(str).str.strip().to_numpy(), None)
    frame = pd.DataFrame({"code": codes, "name": names, "i": np.arange(len(codes))})
    distinct = frame[named].groupby("code")["name"].nunique()
    single = frame["code"].map(distinct).fillna(0).to_numpy() <= 1
    frame.loc[~named & single, "name"] = frame[named].groupby("code")["name"].first().reindex(
        frame.loc[~named & single, "code"]).to_numpy()
    frame["name"] = frame["name"].fillna("\0")  # unnamed features of a code with several names stay apart
    return frame.groupby(["code", "name"], sort=False)["i"].transform("min").to_numpy()


def dissolve_parts(gdf: gpd.GeoDataFrame, metric: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Merge the features of one unit (same code and name) into one, its geometry their union.

    Parameters
    ----------
    gdf : GeoDataFrame
        A unit layer with ``code`` (no blanks: :func:`screen` first) and maybe ``name``.
    metric : GeoDataFrame
        The same features in a metric CRS, to measure the overlaps between a unit's features.

    Returns
    -------
    units : GeoDataFrame
        One row per unit, at its first feature's place. Households and residents that are the
        same in every feature are taken once (a copied attribute), else summed (each part's own);
        other columns take the first value that is not blank.
    parts : GeoDataFrame
        One row per unit stored in several features: ``code``, ``features`` (their number),
        ``overlap_m2`` (area where its features overlap each other: copies, not parts) and that
        overlap as geometry (in ``gdf``'s CRS).
    """
    empty = gpd.GeoDataFrame({"code": [], "features": [], "overlap_m2": []}, geometry=[], crs=gdf.crs)
    group = _groups(gdf) if len(gdf) else np.zeros(0, int)
    size = np.bincount(group, minlength=len(gdf))
    many = np.flatnonzero(size > 1)
    if not len(many):
        return gdf, empty
    member = size[group] > 1
    idx = np.flatnonzero(member)
    mg = shapely.make_valid(np.asarray(metric.geometry.values, dtype=object)[idx])
    a, b = shapely.STRtree(mg).query(mg, predicate="intersects")
    same = (a < b) & (group[idx[a]] == group[idx[b]])
    a, b = a[same], b[same]
    overlap = polygonal(shapely.intersection(mg[a], mg[b]))
    area = pd.Series(shapely.area(overlap)).groupby(group[idx[a]]).sum()
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    out = gdf.iloc[many].copy()
    merged = []
    for g in many:
        rows = np.flatnonzero(group == g)
        parts = geoms[rows]
        merged.append(shapely.union_all(parts) if shapely.is_valid(parts).all()
                      else shapely.multipolygons(shapely.get_parts(parts)))
        for col in out.columns:
            if col in (out.geometry.name, "code"):
                continue
            values = gdf[col].iloc[rows]
            if col in COUNTS and values.nunique() > 1:
                out.loc[gdf.index[g], col] = values.sum()
            elif not blank(values).all():
                out.loc[gdf.index[g], col] = values[~blank(values)].iloc[0]
    out = out.set_geometry(gpd.GeoSeries(merged, index=out.index, crs=gdf.crs))
    units = gdf[(~member) | (group == np.arange(len(gdf)))].copy()
    units.loc[out.index] = out
    units = units.set_geometry(units.geometry.name, crs=gdf.crs)
    overlap_geom = pd.Series(list(overlap), dtype=object).groupby(group[idx[a]]).agg(
        lambda s: shapely.union_all(np.asarray(s.tolist(), dtype=object)))
    geom = gpd.GeoSeries([overlap_geom.get(g, shapely.Polygon()) for g in many], crs=metric.crs).to_crs(gdf.crs)
    parts = gpd.GeoDataFrame({"code": gdf["code"].iloc[many].to_numpy(), "features": size[many],
                              "overlap_m2": [float(area.get(g, 0.0)) for g in many]},
                             geometry=geom.values, crs=gdf.crs)
    return units, parts


def link_parents(child: gpd.GeoDataFrame, parent: gpd.GeoDataFrame, column: str, layer: str,
                 inferred: np.ndarray) -> tuple[pd.Series, list[dict]]:
    """The parent codes of ``child``: a code given as the parent's name becomes that parent's
    code; a blank one takes ``inferred`` (the parent overlapping most), with a ``parent_inferred``
    warning.

    >>> from shapely import box
    >>> p = gpd.GeoDataFrame({"code": ["S1", "S2"], "name": ["甲街道", "乙街道"]}, geometry=[box(0, 0, 1, 1)] * 2)
    >>> c = gpd.GeoDataFrame({"code": ["C1", "C2", "C3"], "street_code": ["乙街道", None, "S9"]},
    ...                      geometry=[box(0, 0, 1, 1)] * 3)
    >>> codes, rows = link_parents(c, p, "street_code", "communities", np.array(["S2", "S1", "S1"]))
    >>> codes.tolist(), [r["code"] for r in rows]
    (['S2', 'S1', 'S9'], ['parent_inferred'])
    """
    declared = child[column].astype(object)
    empty = blank(declared)
    codes = declared.where(~empty, None).map(lambda v: v.strip() if isinstance(v, str) else v)
    known = set(parent["code"])
    if "name" in parent:
        names = parent.drop_duplicates("name", keep=False)
        by_name = dict(zip(names["name"], names["code"]))
        named = ~empty & ~codes.isin(known) & codes.isin(by_name.keys())
        codes[named] = codes[named].map(by_name)
    codes[empty] = inferred[empty]
    plabel = LABELS.get(PARENT[layer][0], "")
    pname = dict(zip(parent["code"], parent["name"])) if "name" in parent else {}
    rows = [finding("parent_inferred", layer, [str(child["code"].iloc[i])], child.geometry.values[i],
                    f"{_label(child, layer, i)}的上级{plabel}编码为空，按位置归入{plabel} "
                    + (f"{pname[inferred[i]]}({inferred[i]})" if pname.get(inferred[i]) else str(inferred[i])),
                    rule="不跨社区", parent=inferred[i]) for i in np.flatnonzero(empty & pd.notna(inferred))]
    return codes.astype(object).where(codes.notna(), None), rows

"""Redraw proposals: one street's communities or grids, reviewed, approved and applied atomically.

A proposal is the full new set of units of one level inside one street (GeoJSON, WGS84), drawn by
hand or made by ``gis.simulate`` (rebalance, merge, split). Before anyone approves it, it carries its
review: the sizes of its units before and after, ``gis.check`` of the city with the proposal
applied (limited to the street), and a summary whose ``new_errors`` counts the errors the proposal
would add. Its life: ``draft`` → ``submitted`` → ``approved``/``rejected`` → ``applied``; applying
writes every changed layer as one new city version, in one transaction, or nothing.

The viewer's editor builds a draft with two requests that save nothing: ``/proposals/draw`` gives
a drawn area to one unit (:func:`draw`: grids take the area, clipped to their community, buildings
kept whole; communities take whole grids) and refuses a result that would add coverage findings;
``/proposals/preview`` reviews units edited by hand (a dragged vertex). An estate (小区) is reassigned
to a neighbouring grid through ``/proposals/draw`` too: the server makes its land the area
(:func:`estate_area`).

Applying a proposal to a city (:func:`proposed_city`): units whose code exists keep their other
attributes, new codes take them from the old unit they overlap most; removed codes disappear; the
units of the level below (grids of communities, buildings of grids) and facilities whose containing
unit changed get the code of the new one (by a point on their surface); the declared households
and residents of changed units become the totals of their buildings.

>>> import geopandas as gpd, shapely
>>> u = gpd.GeoDataFrame({"code": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
>>> feature_collection(u)["features"][0]["properties"]
{'code': 'A'}
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Header, Query, Request
from pydantic import BaseModel, Field

from api.auth import User, reader, role, scope_of, signed_in
from api.errors import ForbiddenError, InvalidParameterError
from api.models import proposal_events, proposals, versions
from api.routes.features import _json
from api.settings import Settings
from api.store import ConflictError, NotFoundError, StaleError, Store
from gis.findings import key, to_json
from gis.check.level import polygonal
from gis.model import LABELS, LEVELS, PARENT, SCHEMA, City
from gis.noding import node_neighbours
from gis.rules import available, load_rules
from gis.simulate.partition import unit_bounds

log = logging.getLogger("wangge.api")

LEVELS = ("communities", "grids")
STATES = ("draft", "submitted", "approved", "rejected", "applied")
WGS84_NAMES = {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "CRS84", "OGC:CRS84",
               "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "EPSG:4326", "urn:ogc:def:crs:EPSG::4326",
               "http://www.opengis.net/def/crs/EPSG/0/4326"}
OUTSIDE_TOLERANCE_M2 = 1.0  # as check: areas below 1 m² are noise
SAME_TOLERANCE = 1e-3  # coordinates (in the city's CRS) within this are the unit unchanged


class ProposalError(InvalidParameterError):
    """A proposal that cannot be used: bad GeoJSON, a unit outside its street, unknown codes…"""


# ---- units in, units out ----------------------------------------------------------------------------

def feature_collection(units: gpd.GeoDataFrame) -> dict:
    """Units (code, name) as a GeoJSON FeatureCollection in WGS84."""
    wgs = units.to_crs(4326) if units.crs is not None and not units.crs.equals(4326) else units
    feats = []
    for code, name, geom in zip(wgs["code"], wgs["name"] if "name" in wgs else [None] * len(wgs),
                                wgs.geometry.values):
        props = {"code": code}
        if name is not None and not (isinstance(name, float) and math.isnan(name)):
            props["name"] = name
        feats.append({"type": "Feature", "id": code, "properties": props,
                      "geometry": json.loads(shapely.to_geojson(geom))})
    return {"type": "FeatureCollection", "features": feats}


def in_street(city: City, level: str, street: str) -> np.ndarray:
    """Rows of ``level`` that belong to ``street`` (by their parent codes)."""
    if level == "communities":
        return (city["communities"]["street_code"] == street).to_numpy()
    comms = set(city["communities"].loc[city["communities"]["street_code"] == street, "code"])
    return city["grids"]["community_code"].isin(comms).to_numpy()


def parse_units(fc: Any, city: City, street: str, level: str) -> gpd.GeoDataFrame:
    """The proposed units (``code``, ``name``, geometry in the city's CRS), checked: a GeoJSON
    FeatureCollection in WGS84 of valid polygons with unique codes, inside the street, using no code
    of another street. ProposalError (400) says what is wrong."""
    if not isinstance(fc, dict) or fc.get("type") != "FeatureCollection" or not isinstance(fc.get("features"), list):
        raise ProposalError("units must be a GeoJSON FeatureCollection")
    crs = fc.get("crs")
    if crs is not None:
        name = crs.get("properties", {}).get("name") if isinstance(crs, dict) and isinstance(crs.get("properties"), dict) else None
        if name not in WGS84_NAMES:
            raise ProposalError(f"units must be WGS84 longitude/latitude (CRS84, RFC 7946); got the crs {crs!r}")
    if not fc["features"]:
        raise ProposalError("units is empty: a proposal holds the full new set of the street's units")
    codes, names, geoms = [], [], []
    for i, f in enumerate(fc["features"]):
        where = f"feature {i + 1}"
        if not isinstance(f, dict) or f.get("type") != "Feature":
            raise ProposalError(f"{where} is not a GeoJSON Feature")
        props = f.get("properties") or {}
        code = props.get("code") if isinstance(props, dict) else None
        if not isinstance(code, str) or not code.strip():
            raise ProposalError(f"{where} has no properties.code (a non-empty string)")
        where = f"unit {code!r}"
        name = props.get("name")
        if name is not None and not isinstance(name, str):
            raise ProposalError(f"{where}: name must be a string")
        geom = _lonlat_polygon(f.get("geometry"), where)
        if not geom.is_valid:
            raise ProposalError(f"{where}: invalid geometry: {shapely.is_valid_reason(geom)}")
        codes.append(code)
        names.append(name)
        geoms.append(geom)
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise ProposalError(f"codes used by more than one unit: {', '.join(dup)}")
    units = _onto_stored(gpd.GeoDataFrame({"code": codes, "name": names}, geometry=geoms, crs=4326).to_crs(city.crs),
                         city, level)
    # codes of this level that belong to another street
    lay = city[level]
    mine = in_street(city, level, street)
    others = set(lay.loc[~mine, "code"]) & set(codes)
    if others:
        raise ProposalError(f"{level} {', '.join(sorted(others))} belong to another street, not to {street}")
    if level == "grids":
        comm = set(city["communities"]["code"]) & set(codes)
        if comm:
            raise ProposalError(f"grid codes {', '.join(sorted(comm))} are community codes")
    # inside the street (不跨社区: a unit never crosses its parent's boundary)
    streets = city["streets"]
    area = shapely.union_all(np.asarray(streets.loc[streets["code"] == street].geometry.values, dtype=object))
    metric = city.metric_crs
    um = units.to_crs(metric)
    am = gpd.GeoSeries([area], crs=city.crs).to_crs(metric).iloc[0]
    outside = shapely.area(shapely.difference(np.asarray(um.geometry.values, dtype=object), am))
    bad = [(c, a) for c, a in zip(codes, outside) if a > OUTSIDE_TOLERANCE_M2]
    if bad:
        raise ProposalError("units outside street " + street + " (不跨社区): " +
                            ", ".join(f"{c} by {a:,.1f} m²" for c, a in bad[:10]) + ("…" if len(bad) > 10 else ""))
    return units


def _lonlat_polygon(g: Any, where: str) -> shapely.Geometry:
    """A GeoJSON Polygon or MultiPolygon in WGS84 longitude/latitude, read (not yet validated)."""
    if not isinstance(g, dict) or g.get("type") not in ("Polygon", "MultiPolygon"):
        raise ProposalError(f"{where}: geometry must be a Polygon or MultiPolygon")
    try:
        geom = shapely.geometry.shape(g)
    except Exception as e:  # shapely raises several kinds for malformed coordinates
        raise ProposalError(f"{where}: unreadable geometry ({e})") from None
    xy = shapely.get_coordinates(geom)
    if geom.is_empty or not np.isfinite(xy).all():
        raise ProposalError(f"{where}: empty geometry or coordinates that are not numbers")
    if (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
        raise ProposalError(f"{where}: coordinates must be longitude/latitude (WGS84)")
    return geom


#: Proposed lines within this distance of stored vertices are the stored lines: WGS84 GeoJSON and
#: the projection back move a vertex by far less (~1e-7 m), a user's edit by far more.
SNAP_M = 0.01


def _onto_stored(units: gpd.GeoDataFrame, city: City, level: str) -> gpd.GeoDataFrame:
    """Proposed units back on the stored geometry: a unit that did not change (as many vertices,
    none moved by more than ``SNAP_M``) keeps its stored polygon exactly, a changed one has its
    vertices snapped to the stored vertices of this level and the level below within ``SNAP_M`` —
    so edges shared with untouched neighbours match exactly after the round trip through WGS84 (no
    unmatched edges, no slivers)."""
    tol = SNAP_M if city.crs.is_projected else SNAP_M / 111_320
    stored = city[level].drop_duplicates("code").set_index("code").geometry
    geoms = np.asarray(units.geometry.values, dtype=object).copy()
    same = np.array([c in stored.index and shapely.get_num_coordinates(g) == shapely.get_num_coordinates(stored[c])
                     and shapely.hausdorff_distance(g, stored[c]) <= tol for c, g in zip(units["code"], geoms)],
                    dtype=bool)
    geoms[same] = [stored[c] for c in units["code"][same]]
    changed = np.flatnonzero(~same)
    if len(changed):
        below = LEVELS[LEVELS.index(level) + 1] if LEVELS.index(level) + 1 < len(LEVELS) else None
        refs = np.concatenate([np.asarray(city[lv].geometry.values, dtype=object) for lv in (level, below)
                               if lv in city.layers])
        tree = shapely.STRtree(refs)
        for i in changed:
            near = refs[tree.query(geoms[i], predicate="dwithin", distance=tol)]
            if len(near):
                snapped = shapely.snap(geoms[i], shapely.union_all(shapely.boundary(near)), tol)
                geoms[i] = snapped if snapped.is_valid else geoms[i]
    return units.set_geometry(gpd.GeoSeries(geoms, index=units.index, crs=units.crs))


def _containing(units: gpd.GeoDataFrame, geoms) -> np.ndarray:
    """For each geometry, the code of the unit containing a point on its surface (None: none)."""
    out = np.full(len(geoms), None, dtype=object)
    if not len(geoms) or not len(units):
        return out
    pts = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    tree = shapely.STRtree(np.asarray(units.geometry.values, dtype=object))
    i, j = tree.query(pts, predicate="within")
    codes = units["code"].to_numpy(object)
    out[i] = codes[j]  # a point on a shared edge is within neither; in two overlapping units, the last
    return out


def _totals(units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Households and residents of each unit: the sum over the buildings it contains."""
    out = pd.DataFrame({"households": 0, "residents": 0}, index=pd.Index(units["code"].to_numpy(object)))
    if buildings is None or not len(buildings):
        return out
    where = _containing(units, buildings.geometry.values)
    for m in ("households", "residents"):
        if m in buildings:
            v = pd.to_numeric(buildings[m], errors="coerce").fillna(0).to_numpy()
            s = pd.Series(v, index=where).groupby(level=0).sum()
            out[m] = s.reindex(out.index).fillna(0).astype(np.int64)
    return out


def proposed_city(city: City, street: str, level: str, units: gpd.GeoDataFrame) -> tuple[City, list[str]]:
    """``city`` with the street's units of ``level`` replaced by ``units``; and the layers changed."""
    layers = {k: v.copy() for k, v in city.layers.items()}
    lay = layers[level]
    geom = lay.geometry.name
    mine = in_street(city, level, street)
    old = lay[mine]
    old_by_code = old.drop_duplicates("code").set_index("code")
    units = units.to_crs(lay.crs)
    parent_col = PARENT[level][1]
    if level == "communities":
        parents = np.full(len(units), street, dtype=object)
    else:
        comms = city["communities"][city["communities"]["street_code"] == street]
        areas = {c: g for c, g in zip(comms["code"], comms.geometry.values)}
        parents = np.array([max(areas, key=lambda c: shapely.area(shapely.intersection(g, areas[c])))
                            if areas else None for g in units.geometry.values], dtype=object)
    new_rows, changed, renamed = {}, [], []
    for code, name, g, parent in zip(units["code"], units["name"], units.geometry.values, parents):
        if code in old_by_code.index:
            row = old_by_code.loc[code].to_dict()
            if not shapely.equals_exact(row[geom], g, tolerance=SAME_TOLERANCE):
                row[geom] = g
                row[parent_col] = parent
                changed.append(code)
        else:  # a new unit takes the attributes of the old unit it overlaps most
            overlap = shapely.area(shapely.intersection(np.asarray(old.geometry.values, dtype=object), g))
            src = old.iloc[int(np.argmax(overlap))].to_dict() if len(old) and overlap.max() > 0 else {}
            row = {c: src.get(c) for c in lay.columns if c not in ("code", "name", geom)}
            row.update({geom: g, parent_col: parent, "name": None})
            changed.append(code)
        row["code"] = code
        if name is not None:
            if name != row.get("name"):
                renamed.append(code)
            row["name"] = name
        new_rows[code] = row
    removed = [c for c in old["code"] if c not in new_rows]
    # the level: the street's units in place (kept order), removed dropped, new ones appended
    out_rows, seen = [], set()
    for i, (is_mine, code) in enumerate(zip(mine, lay["code"])):
        if not is_mine:
            out_rows.append(lay.iloc[i].to_dict())
        elif code in new_rows and code not in seen:
            out_rows.append(new_rows[code])
            seen.add(code)
    out_rows += [r for c, r in new_rows.items() if c not in seen]
    new_lay = gpd.GeoDataFrame(pd.DataFrame(out_rows, columns=list(lay.columns)), geometry=geom, crs=lay.crs)
    touched = set(changed) | set(removed)
    if not touched and not renamed:
        return City(layers, source=city.source, metric_crs=city.metric_crs), []
    changed_layers = [level]
    # children whose containing unit changed: the code of the new one
    child = "grids" if level == "communities" else "buildings"
    street_area = shapely.union_all(np.asarray(
        city["streets"].loc[city["streets"]["code"] == street].geometry.values, dtype=object))
    new_mine = new_lay[new_lay["code"].isin(new_rows.keys())]
    for name, col in ((child, PARENT[child][1]), ("facilities", "community_code")):
        if name not in layers or (name == "facilities" and level != "communities"):
            continue
        kids = layers[name]
        gs = np.asarray(kids.geometry.values, dtype=object)
        near = np.asarray(shapely.intersects(gs, street_area), bool) & ~shapely.is_missing(gs)
        if not near.any():
            continue
        before = _containing(old, gs[near])
        after = _containing(new_mine, gs[near])
        moved = np.array([a is not None and a != b for a, b in zip(after, before)], bool)
        if col not in kids.columns:
            kids[col] = None
        idx = kids.index[near][moved]
        if len(idx):
            kids[col] = kids[col].astype(object)
            kids.loc[idx, col] = after[moved]
            changed_layers.append(name)
    # declared households/residents of changed units: the totals of their buildings
    if touched and "buildings" in layers:
        totals = _totals(new_lay[new_lay["code"].isin(changed)], layers["buildings"])
        for m in ("households", "residents"):
            if m in new_lay.columns:
                hit = new_lay["code"].isin(changed)
                new_lay[m] = new_lay[m].astype(object)
                new_lay.loc[hit, m] = new_lay.loc[hit, "code"].map(totals[m]).to_numpy()
    for name in set(changed_layers) | {level}:
        frame = new_lay if name == level else layers[name]
        for c, kind in SCHEMA[name].items():
            if c in frame.columns and kind == "int":
                frame[c] = pd.to_numeric(frame[c], errors="coerce").round().astype("Int64")
        layers[name] = frame
    return City(layers, source=city.source, metric_crs=city.metric_crs), sorted(set(changed_layers))


# ---- a drawn area given to one unit -----------------------------------------------------------------

#: A drawn vertex this close to a unit's vertex or line is put on it: about a screen pixel at zoom 18,
#: so a line drawn "along" a boundary follows it instead of leaving a sliver.
DRAW_SNAP_M = 0.5
#: Vertices of the changed units within this distance of each other are made one vertex.
NODE_M = 1e-3
#: Overlays of a drawn area round to this grid (snap-rounding: robust, and no spike thinner than it).
GRID_M = 1e-4
#: A unit overlapping the drawn area by less than this (m²) gives nothing: the overlap is arithmetic noise.
PIECE_M2 = 1e-3
#: The findings a drawn edit must not add: the coverage (不交叉、不跨社区、地无空白) and the
#: buildings in it (人无遗漏). Size findings are shown, not refused: an edit may be one of several.
COVERAGE_CODES = frozenset({"invalid_geometry", "overlap", "sliver", "gap", "outside_parent", "unmatched_edges",
                            "multipart", "unassigned_building", "multi_assigned_building"})
#: An estate's land: the convex hull of its buildings, buffered by this (m).
ESTATE_M = 5.0
#: An estate this close to the grid that takes it (m: about a road's width) takes the land between
#: them too; one farther away is refused (draw the area instead).
ESTATE_REACH_M = 30.0


def read_area(geometry: Any, city: City) -> shapely.Geometry:
    """A drawn area (GeoJSON Polygon or MultiPolygon, WGS84) in the city's metric CRS; a ring that
    crosses itself is repaired to its polygonal parts."""
    area = _lonlat_polygon(geometry, "area")
    if not area.is_valid:
        area = polygonal(np.array([shapely.make_valid(area)]))[0]
    area = gpd.GeoSeries([area], crs=4326).to_crs(city.metric_crs).iloc[0]
    if area.area <= OUTSIDE_TOLERANCE_M2:
        raise ProposalError("画出的范围面积为零 (the drawn area has no area)")
    return area


def estate_area(city: City, units: gpd.GeoDataFrame, estate: str, grid: str, to: str
                ) -> tuple[shapely.Geometry, list[str]]:
    """The land of ``estate`` (小区) in grid ``grid`` of the draft ``units`` (city CRS), as an area
    (metric CRS) for :func:`draw` to give to grid ``to``: the convex hull of the estate's buildings in
    that grid, buffered by ESTATE_M, with the land between it and ``to`` (up to ESTATE_REACH_M away,
    along the line the two grids share), within ``grid`` and without the other buildings; and the codes
    of the buildings of other estates that go with it (they overlap its buildings: not to be parted)."""
    codes = units["code"].tolist()
    for c in (grid, to):
        if c not in codes:
            raise ProposalError(f"{c!r} 不是本街道的网格 ({c!r} is not one of the street's grids)")
    if grid == to:
        raise ProposalError(f"小区已在 {to} 内 (the estate is in {to} already)")
    if "buildings" not in city or "estate" not in city["buildings"]:
        raise ProposalError("城市没有带小区名的建筑 (the stored city has no buildings with estates)")
    metric = city.metric_crs
    g = units.set_index("code").to_crs(metric).geometry
    b = city["buildings"].to_crs(metric)
    b = b[_containing(units.to_crs(metric), b.geometry.values) == grid]
    ours = (b["estate"] == estate).to_numpy().copy()
    if not ours.any():
        raise ProposalError(f"网格 {grid} 内没有小区 {estate} 的建筑 (grid {grid} has no building of estate "
                            f"{estate!r})")
    own, geoms = ours.copy(), np.asarray(b.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms)
    while True:  # with the buildings overlapping them, transitively: those cannot be parted (人无遗漏)
        i, j = tree.query(geoms[ours], predicate="intersects")
        j = j[shapely.area(shapely.intersection(geoms[ours][i], geoms[j])) > PIECE_M2]
        if ours[j].all():
            break
        ours[j] = True
    hull = shapely.convex_hull(shapely.union_all(geoms[own])).buffer(ESTATE_M)
    land = shapely.union_all(np.r_[[hull], shapely.buffer(geoms[ours & ~own], ESTATE_M)])
    shared = shapely.intersection(g[grid].boundary, g[to].boundary)
    near = shapely.intersection(shared, land.buffer(ESTATE_REACH_M - ESTATE_M))
    if shapely.length(near) <= DRAW_SNAP_M:
        gap = round(float(shapely.distance(land, g[to])) + ESTATE_M)
        raise ProposalError(f"小区 {estate} 与网格 {to} 不相邻（相距约 {gap} 米），请改用画范围 "
                            f"(estate {estate!r} does not border grid {to}: about {gap} m away; draw the area instead)")
    area = shapely.intersection(shapely.union(land, shapely.convex_hull(shapely.union(hull, near))), g[grid])
    others = geoms[~ours]
    others = others[shapely.intersects(others, area)]
    if len(others):
        area = shapely.difference(area, shapely.union_all(others))
    return polygonal(np.array([area]))[0], b.loc[ours & (b["estate"] != estate).to_numpy(), "code"].tolist()


def _label(units: gpd.GeoDataFrame, i: int, level: str) -> str:
    """'网格 第2网格(360102001003-02)': unit ``i`` for messages."""
    name, code = units["name"].iloc[i] if "name" in units else None, units["code"].iloc[i]
    return f"{LABELS[level]} {name}({code})" if isinstance(name, str) and name else f"{LABELS[level]} {code}"


def _vertices(geoms) -> np.ndarray:
    return np.unique(shapely.get_coordinates(np.asarray(geoms, dtype=object)), axis=0)


def _whole_buildings(area, buildings: np.ndarray) -> shapely.Geometry:
    """``area`` with every block of buildings it cuts either added (half or more of its footprint
    inside) or taken out: a drawn line never splits a building between two units (人无遗漏). A block
    is a building with all the buildings overlapping it, since those move together."""
    polys = buildings[shapely.get_type_id(buildings) != 0]
    if not len(polys):
        return area
    tree = shapely.STRtree(polys)
    hit = tree.query(area, predicate="intersects")
    share = shapely.area(shapely.intersection(polys[hit], area)) / np.maximum(shapely.area(polys[hit]), 1e-12)
    seen, add, sub = set(), [], []
    for start in hit[(share > 1e-9) & (share < 1 - 1e-9)].tolist():
        if start in seen:
            continue
        seen.add(start)
        block, todo = [], [start]
        while todo:  # the cut building and all that overlap it, transitively
            i = todo.pop()
            block.append(i)
            near = tree.query(polys[i], predicate="intersects")
            for j in near[shapely.area(shapely.intersection(polys[near], polys[i])) > 0].tolist():
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        whole = shapely.union_all(polys[block])
        (add if shapely.area(shapely.intersection(whole, area)) >= whole.area / 2 else sub).append(whole)
    return shapely.union_all(np.r_[[shapely.difference(area, shapely.union_all(sub))], add])


def _pin(area, line, vertices: np.ndarray) -> shapely.Geometry:
    """``area`` meeting ``line`` only at its ``vertices``: where the edge from an inner vertex X
    reaches ``line`` at P between two of them, it is moved to the nearest vertex V — the triangle
    X P V is cut away when the area runs along ``line`` from P to V, added otherwise."""
    if not len(vertices):
        return area
    tree = shapely.STRtree(shapely.points(vertices))
    rings = [r for p in shapely.get_parts(area) for r in (p.exterior, *p.interiors)]
    for ring in rings:
        xy = shapely.get_coordinates(ring)[:-1]
        on = shapely.distance(shapely.points(xy), line) <= NODE_M
        for k in np.flatnonzero(on):
            p = xy[k]
            v = vertices[tree.nearest(shapely.Point(p))]
            if np.hypot(*(p - v)) <= NODE_M:
                continue
            for x in (xy[k - 1], xy[(k + 1) % len(xy)]):
                if shapely.distance(shapely.Point(x), line) > NODE_M:
                    tri = shapely.Polygon([x, p, v])
                    along = shapely.distance(shapely.Point((p + v) / 2), shapely.boundary(area)) <= NODE_M
                    area = polygonal(np.array([shapely.difference(area, tri) if along
                                               else shapely.union(area, tri)]))[0]
    return area


def draw(city: City, street: str, level: str, units: gpd.GeoDataFrame, area, to: str) -> tuple[gpd.GeoDataFrame, dict]:
    """``units`` (the street's units of ``level``, city CRS) with the drawn ``area`` (metric CRS)
    given to unit ``to``, and what moved.

    The area is clipped to the parent of ``to`` (the street for a community, its community for a
    grid: 不跨社区). Grids take the area itself, with buildings kept whole and the new line meeting
    the community's outline at its vertices. Communities take whole grids — those with more than
    half their area inside — since their lines are grid lines. ProposalError (400) when nothing
    moves or a unit would be emptied; the result's findings are checked by the caller."""
    codes = units["code"].tolist()
    if to not in codes:
        raise ProposalError(f"{to!r} 不是本街道的{LABELS[level]} (to: {to!r} is not one of street {street}'s "
                            f"{level})")
    t = codes.index(to)
    metric = city.metric_crs
    geoms = np.asarray(units.to_crs(metric).geometry.values, dtype=object).copy()
    if level == "communities":
        streets = city["streets"]
        parent = shapely.union_all(np.asarray(streets.loc[streets["code"] == street].to_crs(metric).geometry.values,
                                              dtype=object))
        where = f"街道 {street}"
    else:
        comms = city["communities"][city["communities"]["street_code"] == street].to_crs(metric)
        overlap = shapely.area(shapely.intersection(np.asarray(comms.geometry.values, dtype=object), geoms[t]))
        k = int(np.argmax(overlap))
        parent = comms.geometry.values[k]
        where = _label(comms, k, "communities")
    inside = polygonal(np.array([shapely.intersection(area, parent)]))[0]
    clipped = float(area.area - inside.area)
    if inside.area <= OUTSIDE_TOLERANCE_M2:
        raise ProposalError(f"画出的范围不在{where}内 (the drawn area lies outside {where}: a "
                            f"{LABELS[level]} takes land of its parent only)")
    before = geoms.copy()
    others = np.asarray(city[level][~in_street(city, level, street)].to_crs(metric).geometry.values, dtype=object)
    if level == "communities":
        moved = _grids_into(city, street, units, geoms, inside, t)
    else:
        moved = _area_into(city, units, geoms, others, inside, parent, t)
    changed = [t, *sorted({i for i, _, _ in moved})]
    for i in changed[1:]:
        if shapely.area(geoms[i]) <= OUTSIDE_TOLERANCE_M2:
            raise ProposalError(f"画出的范围会清空{_label(units, i, level)}，请改用合并 "
                                f"(the drawn area would empty {codes[i]}; merge it instead)")
    changed = _node(geoms, np.r_[before, others], changed)
    final = np.asarray(units.geometry.values, dtype=object).copy()
    final[changed] = np.asarray(gpd.GeoSeries(geoms[changed], crs=metric).to_crs(units.crs).values, dtype=object)
    result = units.set_geometry(gpd.GeoSeries(final, index=units.index, crs=units.crs))
    info = {"to": to, "clipped_m2": round(clipped, 1),
            "taken": [{"code": codes[i], "area_m2": round(float(a), 1), **({"grid": g} if g else {})}
                      for i, a, g in moved]}
    return _onto_stored(result, city, level), info


def _node(geoms: np.ndarray, before: np.ndarray, changed: list[int]) -> list[int]:
    """Make the ``changed`` units meet every unit vertex for vertex (``geoms`` changed in place): a
    vertex within NODE_M of one of the level's vertices ``before`` becomes it (the WGS84 round
    trip's noise), and a new vertex is added to every unit whose line passes through it
    (:func:`gis.noding.node_neighbours`). The units changed, now."""
    old = _vertices(before[shapely.STRtree(before).query(shapely.envelope(shapely.union_all(geoms[changed])))])
    xy = _vertices(geoms[changed])
    near = shapely.STRtree(shapely.points(old)).nearest(shapely.points(xy))
    fresh = []
    for p in xy[shapely.distance(shapely.points(xy), shapely.points(old[near])) > NODE_M]:
        if all(np.hypot(*(p - q)) > NODE_M for q in fresh):  # a few points: the ends of the new lines
            fresh.append(p)
    fresh = np.array(fresh).reshape(-1, 2)
    if len(fresh):
        _, meet = shapely.STRtree(shapely.boundary(geoms)).query(shapely.points(fresh), predicate="dwithin",
                                                                 distance=NODE_M)
        changed = sorted(set(changed) | set(meet.tolist()))
    # the changed units' noise snaps onto the stored vertices, and the ends of the new lines go into
    # the units they meet: both are noding onto old ∪ fresh at NODE_M
    geoms[changed] = _no_specks(shapely.remove_repeated_points(node_neighbours(
        shapely.points(np.r_[old, fresh]), _no_specks(shapely.remove_repeated_points(geoms[changed], NODE_M)),
        NODE_M)))
    return changed


def _no_specks(geoms: np.ndarray) -> np.ndarray:
    """The polygons without parts or holes of under PIECE_M2: overlay noise where pieces rejoin,
    which noding may collapse (a hole left with under 4 points makes the polygon invalid, a
    part of no area makes the unit multipart)."""
    out = np.asarray(geoms, dtype=object).copy()
    for i, g in enumerate(out):
        parts = shapely.get_parts(g)
        if not any(len(p.interiors) for p in parts) and (len(parts) < 2 or shapely.area(parts).min() > PIECE_M2):
            continue
        kept = [shapely.Polygon(p.exterior, [h for h in p.interiors
                                             if len(h.coords) >= 4 and shapely.Polygon(h).area > PIECE_M2])
                for p in parts if p.area > PIECE_M2]
        out[i] = kept[0] if len(kept) == 1 else shapely.MultiPolygon(kept)
    return out


def _grids_into(city: City, street: str, units, geoms: np.ndarray, area, t: int) -> list[tuple[int, float, str]]:
    """Communities: the street's grids more than half inside ``area`` go whole to unit ``t``
    (``geoms`` changed in place); (giving unit, area, grid) of each."""
    grids = city["grids"][in_street(city, "grids", street)].to_crs(city.metric_crs)
    g = np.asarray(grids.geometry.values, dtype=object)
    share = shapely.area(shapely.intersection(g, area)) / shapely.area(g)
    metric_units = units.set_geometry(gpd.GeoSeries(geoms, index=units.index, crs=city.metric_crs))
    member = _containing(metric_units, g)
    codes = units["code"].tolist()
    go = np.flatnonzero((share > 0.5) & np.array([m is not None and m != codes[t] for m in member], bool))
    if not len(go):
        raise ProposalError("画出的范围没有盖住任何网格的一半以上：社区边界沿网格线调整 "
                            "(the drawn area covers no grid by more than half; community lines move by whole grids)")
    moved = []
    for j in go:
        i = codes.index(member[j])
        geoms[i] = shapely.difference(geoms[i], g[j])
        moved.append((i, float(shapely.area(g[j])), grids["code"].iloc[j]))
    geoms[t] = shapely.union_all(np.r_[[geoms[t]], g[go]])
    return moved


def _area_into(city: City, units, geoms: np.ndarray, others: np.ndarray, area, parent, t: int
               ) -> list[tuple[int, float, None]]:
    """Grids: ``area`` (inside ``parent``) goes to unit ``t`` from the units it overlaps
    (``geoms`` changed in place); (giving unit, area, None) of each. Where the new line meets a
    unit of another street (``others``) it ends at one of that unit's vertices (those lines are not
    ours to change); buildings stay whole."""
    everyone = np.r_[geoms, others]
    tree = shapely.STRtree(everyone)
    near = everyone[tree.query(area.buffer(DRAW_SNAP_M), predicate="intersects")]
    area = shapely.snap(area, shapely.union_all(shapely.boundary(near)), DRAW_SNAP_M)
    area = polygonal(np.array([shapely.intersection(shapely.make_valid(area), parent, grid_size=GRID_M)]))[0]
    foreign = others[shapely.dwithin(others, parent, NODE_M)]
    if len(foreign):
        line = shapely.union_all(shapely.boundary(foreign))
        xy = _vertices(foreign)
        area = _pin(area, line, xy[shapely.distance(shapely.points(xy), shapely.boundary(parent)) <= NODE_M])
    if "buildings" in city:
        area = _whole_buildings(area, np.asarray(city["buildings"].to_crs(city.metric_crs).geometry.values,
                                                 dtype=object))
    area = polygonal(np.array([shapely.intersection(area, parent, grid_size=GRID_M)]))[0]
    moved, pieces = [], []
    for i in np.flatnonzero(shapely.intersects(geoms, area)):
        piece = polygonal(np.array([shapely.intersection(geoms[i], area, grid_size=GRID_M)]))[0]
        if i != t and piece.area > OUTSIDE_TOLERANCE_M2:
            geoms[i] = polygonal(np.array([shapely.difference(geoms[i], area, grid_size=GRID_M)]))[0]
            moved.append((int(i), float(piece.area), None))
            pieces.append(piece)
    # land of the area in no unit (a gap) goes to ``t`` too
    held = shapely.union_all(everyone[tree.query(area, predicate="intersects")])
    free = shapely.get_parts(polygonal(np.array([shapely.difference(area, held, grid_size=GRID_M)]))[0])
    pieces += list(free[shapely.area(free) > OUTSIDE_TOLERANCE_M2])
    if not any(a > OUTSIDE_TOLERANCE_M2 for _, a, _ in moved) and len(pieces) == len(moved):
        raise ProposalError(f"画出的范围没有从其他网格划入土地：它已属于{_label(units, t, 'grids')}，"
                            f"或只切过整栋建筑 (the drawn area takes nothing from other grids: it is "
                            f"{units['code'].iloc[t]}'s already, or only cuts through whole buildings)")
    geoms[t] = shapely.union_all(np.r_[[geoms[t]], pieces], grid_size=GRID_M)
    return moved


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
    street's findings)."""
    from gis.check import check

    from api.store import _eroded

    found = check(city, rules)
    streets = city["streets"]
    area = _eroded(shapely.union_all(np.asarray(streets.loc[streets["code"] == street].geometry.values,
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


def _key(f: dict) -> tuple:
    return key(f["code"], f.get("layer"), f.get("ids"))


def added(before: list[dict], after: list[dict]) -> list[dict]:
    """The findings of ``after`` that ``before`` lacks, or whose area grew by more than the tolerance."""
    old = {}
    for f in before:
        old[_key(f)] = max(old.get(_key(f), 0.0), f.get("area_m2") or 0.0)
    return [f for f in after if _key(f) not in old or (f.get("area_m2") or 0.0) > old[_key(f)] + OUTSIDE_TOLERANCE_M2]


def review(city: City, new: City, street: str, level: str, rules: str, base_version: int,
           found: dict | None = None) -> dict:
    """Sizes, findings (check of the street in ``new``, or ``found`` when already made; those the
    proposal adds marked ``new``) and summary of a proposal."""
    ruleset = load_rules(rules)
    before_found = street_findings(city, street, ruleset)["findings"]
    found = found or street_findings(new, street, ruleset)
    fresh = added(before_found, found["findings"])
    for f in fresh:
        f["new"] = True
    new_errors = [f for f in fresh if f["severity"] == "error"]
    now_keys = {_key(f) for f in found["findings"] if f["severity"] == "error"}
    fixed = {_key(f) for f in before_found if f["severity"] == "error" and _key(f) not in now_keys}
    b_units = city[level][in_street(city, level, street)]
    a_units = new[level][in_street(new, level, street)]
    buildings = city["buildings"] if "buildings" in city else None
    tb, ta = _totals(b_units, buildings), _totals(a_units, buildings)
    bounds = unit_bounds(a_units.drop(columns=a_units.geometry.name), level, ruleset).groupby(level=0).first()
    codes = list(dict.fromkeys([*b_units["code"], *a_units["code"]]))
    b_geom = dict(zip(b_units["code"], b_units.geometry.values))
    a_geom = dict(zip(a_units["code"], a_units.geometry.values))
    sizes, out_of_bounds, changed = [], [], []
    for c in codes:
        hb, rb = (int(tb.at[c, "households"]), int(tb.at[c, "residents"])) if c in tb.index else (0, 0)
        ha, ra = (int(ta.at[c, "households"]), int(ta.at[c, "residents"])) if c in ta.index else (0, 0)
        ok = True
        if c in bounds.index:
            measure = bounds.at[c, "measure"]
            value = ra if measure == "residents" else ha
            lo, hi = bounds.at[c, "min"], bounds.at[c, "max"]
            ok = not ((not pd.isna(lo) and value < lo) or (not pd.isna(hi) and value > hi))
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


def from_operation(city: City, street: str, op: dict, rules: str) -> tuple[str, gpd.GeoDataFrame]:
    """The level and the street's new units that ``gis.simulate`` proposes for ``op``."""
    from gis.simulate import PlanError, merge, rebalance, split

    kind = op["operation"]
    code = op.get("parent") if kind == "rebalance" else op.get("unit")
    if not code:
        raise ProposalError(f"{kind} needs {'parent' if kind == 'rebalance' else 'unit'}: a code of the street")
    comms = city["communities"]
    mine_c = set(comms.loc[comms["street_code"] == street, "code"])
    mine_g = set(city["grids"].loc[city["grids"]["community_code"].isin(mine_c), "code"])
    try:
        if kind == "rebalance":
            if code == street:
                level = "communities"
            elif code in mine_c:
                level = "grids"
            else:
                raise ProposalError(f"rebalance parent {code!r} is neither street {street} nor one of its communities")
            plan = rebalance(city, code, level=level, rules=rules)
        else:
            level = "communities" if code in mine_c else "grids" if code in mine_g else None
            if level is None:
                raise ProposalError(f"{kind} unit {code!r} is not a community or grid of street {street}")
            plan = merge(city, code, level=level, rules=rules) if kind == "merge" else \
                split(city, code, op.get("k"), level=level, rules=rules)
    except PlanError as e:
        raise ProposalError(f"{kind} {code}: {e}") from None
    new = plan.apply(city)
    return level, new[level][in_street(new, level, street)][["code", "name", new[level].geometry.name]]


# ---- the store side --------------------------------------------------------------------------------

def _utc(t):
    return t.replace(tzinfo=t.tzinfo or timezone.utc) if t is not None else None


def load(store: Store, pid: int, conn=None) -> dict:
    def read(c):
        row = c.execute(sa.select(proposals).where(proposals.c.id == pid)).mappings().first()
        if row is None:
            raise NotFoundError(f"no proposal {pid}")
        events = c.execute(sa.select(proposal_events).where(proposal_events.c.proposal_id == pid)
                           .order_by(proposal_events.c.id)).mappings().all()
        return dict(row), [dict(e) for e in events]

    if conn is not None:
        row, events = read(conn)
    else:
        with store._connect() as c:
            row, events = read(c)
    return public(row, events)


def public(row: dict, events: list[dict]) -> dict:
    """The proposal's JSON."""
    rv = row["review"]
    return {"id": row["id"], "street_code": row["street_code"], "level": row["level"], "title": row["title"],
            "reason": row["reason"], "state": row["state"], "base_version": row["base_version"],
            "author": row["author"], "created": _utc(row["created_at"]).isoformat(),
            "events": [{"state": e["state"], "by": e["actor"], "at": _utc(e["at"]).isoformat(), "why": e["why"]}
                       for e in events],
            "operation": row["operation"], "rules": row["rules"], "applied_version": row["applied_version"],
            "units": row["units"], "sizes": rv["sizes"], "findings": rv["findings"], "summary": rv["summary"]}


def _event(conn, pid: int, state: str, actor: str, why: str | None) -> None:
    conn.execute(sa.insert(proposal_events).values(proposal_id=pid, state=state, actor=actor,
                                                   at=datetime.now(timezone.utc), why=why))


def _move(store: Store, pid: int, allowed: tuple[str, ...], to: str, actor: str, why: str | None,
          check=None) -> dict:
    """Change the state of a proposal from one of ``allowed`` to ``to`` (409 otherwise), with an event."""
    with store._connect(write=True) as conn, conn.begin():
        cur = load(store, pid, conn)
        if cur["state"] not in allowed:
            raise ConflictError(f"proposal {pid} is {cur['state']}: only a {' or '.join(allowed)} proposal can "
                                f"become {to}")
        if check is not None:
            check(cur)
        done = conn.execute(sa.update(proposals).where(proposals.c.id == pid, proposals.c.state == cur["state"])
                            .values(state=to))
        if done.rowcount != 1:
            raise ConflictError(f"proposal {pid} changed meanwhile; reload it")
        _event(conn, pid, to, actor, why)
        return load(store, pid, conn)


# ---- routes -------------------------------------------------------------------------------------------

class NewProposal(BaseModel):
    street_code: str = Field(max_length=100)
    level: Literal["communities", "grids"] | None = None
    title: str = Field(min_length=1, max_length=500)
    reason: str = Field("", max_length=20000)
    base_version: int = Field(ge=1)
    units: dict | None = None
    operation: Literal["rebalance", "merge", "split"] | None = None
    parent: str | None = Field(None, max_length=100)
    unit: str | None = Field(None, max_length=100)
    k: int | None = Field(None, ge=2, le=50)
    rules: str | None = None


class Change(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=500)
    reason: str | None = Field(None, max_length=20000)
    units: dict | None = None
    base_version: int | None = Field(None, ge=1)


class Draft(BaseModel):
    street_code: str = Field(max_length=100)
    level: Literal["communities", "grids"]
    base_version: int = Field(ge=1)
    units: dict
    rules: str | None = None


class Drawn(Draft):
    units: dict | None = None  # the draft so far; none: the stored units
    area: dict | None = None  # the drawn area; none: the land of ``estate`` in ``grid``
    estate: str | None = Field(None, min_length=1, max_length=200)
    grid: str | None = Field(None, min_length=1, max_length=100)
    to: str = Field(min_length=1, max_length=100)


class Why(BaseModel):
    why: str | None = Field(None, max_length=20000)


class ApplyBody(BaseModel):
    base_version: int | None = None


def router(settings: Settings) -> APIRouter:
    api = APIRouter(tags=["proposals"])

    def store_of(request: Request) -> Store:
        return request.app.state.store

    def visible(user: User, p: dict) -> bool:
        return user.role != "street_staff" or p["street_code"] == user.street_code

    def get_visible(request: Request, user: User, pid: int) -> dict:
        p = load(store_of(request), pid)
        if not visible(user, p):
            raise NotFoundError(f"no proposal {pid}")
        return p

    def evaluate(request: Request, street: str, level: str | None, units_fc, op: dict | None, rules: str,
                 base_version: int):
        store = store_of(request)
        version, city = store.snapshot()
        if version != base_version:
            raise StaleError(f"the city is at version {version}, not {base_version}: reload it and draw again")
        if "streets" not in city or not (city["streets"]["code"] == street).any():
            raise ProposalError(f"no street {street!r}")
        if op is not None:
            level, made = from_operation(city, street, op, rules)
            units_fc = feature_collection(made)
        if level not in LEVELS:
            raise ProposalError(f"level must be one of {', '.join(LEVELS)}")
        if level not in city or "communities" not in city:
            raise ProposalError(f"the stored city has no {level}")
        units = parse_units(units_fc, city, street, level)
        new, _ = proposed_city(city, street, level, units)
        return level, units_fc, review(city, new, street, level, rules, base_version)

    def draft(request: Request, user: User, body: Draft) -> tuple[City, str, gpd.GeoDataFrame]:
        """The stored city, the rule set and the street's units of a draft (stored ones without units)."""
        if user.role == "street_staff" and body.street_code != user.street_code:
            raise ForbiddenError(f"you propose for street {user.street_code} only")
        rules = body.rules or settings.default_rules
        if rules not in available():
            raise ProposalError(f"unknown rule set {rules!r}; bundled: {', '.join(available())}")
        version, city = store_of(request).snapshot()
        if version != body.base_version:
            raise StaleError(f"the city is at version {version}, not {body.base_version}: reload it and draw again")
        if "streets" not in city or not (city["streets"]["code"] == body.street_code).any():
            raise ProposalError(f"no street {body.street_code!r}")
        if body.level not in city or "communities" not in city:
            raise ProposalError(f"the stored city has no {body.level}")
        if body.units is not None:
            return city, rules, parse_units(body.units, city, body.street_code, body.level)
        lay = city[body.level]
        return city, rules, lay[in_street(city, body.level, body.street_code)][["code", "name", lay.geometry.name]]

    @api.post("/proposals/preview", summary="The review of new units (sizes, findings), not saved")
    def preview(request: Request, body: Draft, user: User = Depends(role("street_staff", "planner"))):
        city, rules, units = draft(request, user, body)
        new, _ = proposed_city(city, body.street_code, body.level, units)
        return _json({"level": body.level, **review(city, new, body.street_code, body.level, rules, body.base_version)})

    @api.post("/proposals/draw", summary="Give a drawn area to one unit: the new units and their review, not saved")
    def drawn(request: Request, body: Drawn, user: User = Depends(role("street_staff", "planner"))):
        city, rules, units = draft(request, user, body)
        street, level, ruleset = body.street_code, body.level, load_rules(rules)
        if (body.area is None) == (body.estate is None or body.grid is None):
            raise ProposalError("需要画出的范围，或小区名和它所在的网格 (give either area, or estate and grid)")
        if body.area is not None:
            area = read_area(body.area, city)
        elif level != "grids":
            raise ProposalError("小区在网格之间划转 (estates move between grids: level must be grids)")
        else:
            area, along = estate_area(city, units, body.estate, body.grid, body.to)
        new_units, info = draw(city, street, level, units, area, body.to)
        if body.area is None:
            info["estate"] = {"name": body.estate, "grid": body.grid, "with": along}
        before = street_findings(proposed_city(city, street, level, units)[0], street, ruleset)["findings"]
        new, _ = proposed_city(city, street, level, new_units)
        found = street_findings(new, street, ruleset)
        broken = [f for f in added(before, found["findings"]) if f["code"] in COVERAGE_CODES]
        if broken:
            raise ProposalError("画出的范围未采用，它会带来新的问题：" + "；".join(f["message"] for f in broken[:5]) +
                                f" (the drawn area would add {', '.join(sorted({f['code'] for f in broken}))})")
        return _json({"level": level, "units": feature_collection(new_units), **info,
                      **review(city, new, street, level, rules, body.base_version, found)})

    @api.post("/proposals", status_code=201, summary="Propose new boundaries for one street")
    def create(request: Request, body: NewProposal, user: User = Depends(role("street_staff", "planner"))):
        if user.role == "street_staff" and body.street_code != user.street_code:
            raise ForbiddenError(f"you propose for street {user.street_code} only")
        rules = body.rules or settings.default_rules
        if rules not in available():
            raise ProposalError(f"unknown rule set {rules!r}; bundled: {', '.join(available())}")
        if (body.units is None) == (body.operation is None):
            raise ProposalError("send either units (a FeatureCollection) or an operation (rebalance, merge, split)")
        if body.units is not None and body.level is None:
            raise ProposalError("level (communities or grids) is required with units")
        op = None if body.operation is None else {"operation": body.operation, "parent": body.parent,
                                                  "unit": body.unit, "k": body.k}
        level, units_fc, rv = evaluate(request, body.street_code, body.level, body.units, op, rules,
                                       body.base_version)
        store = store_of(request)
        with store._connect(write=True) as conn, conn.begin():
            pid = conn.execute(sa.insert(proposals).values(
                street_code=body.street_code, level=level, title=body.title, reason=body.reason, state="draft",
                base_version=body.base_version, author=user.username, created_at=datetime.now(timezone.utc),
                operation=op, rules=rules, units=units_fc, review=rv).returning(proposals.c.id)).scalar()
            _event(conn, pid, "draft", user.username, None)
            response = _json(load(store, pid, conn))
        response.status_code = 201
        response.headers["Location"] = f"/proposals/{pid}"
        return response

    @api.get("/proposals", summary="Proposals (a street's staff: their street's)")
    def listing(request: Request, user: User = Depends(signed_in),
                state: Annotated[Literal["draft", "submitted", "approved", "rejected", "applied"] | None,
                                 Query()] = None,
                street_code: Annotated[str | None, Query()] = None):
        q = sa.select(proposals.c.id).order_by(proposals.c.id)
        if state:
            q = q.where(proposals.c.state == state)
        if user.role == "street_staff":
            q = q.where(proposals.c.street_code == user.street_code)
        if street_code:
            q = q.where(proposals.c.street_code == street_code)
        store = store_of(request)
        with store._connect() as conn:
            ids = conn.execute(q).scalars().all()
            return _json({"proposals": [load(store, i, conn) for i in ids]})

    @api.get("/proposals/{pid}", summary="One proposal, with its review")
    def one(request: Request, pid: int, user: User = Depends(signed_in)):
        return _json(get_visible(request, user, pid))

    @api.put("/proposals/{pid}", summary="Change a draft (its author)")
    def change(request: Request, pid: int, body: Change, user: User = Depends(signed_in)):
        p = get_visible(request, user, pid)
        if p["author"] != user.username:
            raise ForbiddenError(f"only its author ({p['author']}) changes proposal {pid}")
        if p["state"] != "draft":
            raise ConflictError(f"proposal {pid} is {p['state']}: only a draft can be changed")
        values = {k: v for k, v in (("title", body.title), ("reason", body.reason)) if v is not None}
        if body.units is not None or body.base_version is not None:
            base = body.base_version or p["base_version"]
            units = body.units if body.units is not None else p["units"]
            _, units_fc, rv = evaluate(request, p["street_code"], p["level"], units, None, p["rules"], base)
            values.update(units=units_fc, review=rv, base_version=base, operation=None if body.units else p["operation"])
        store = store_of(request)
        with store._connect(write=True) as conn, conn.begin():
            done = conn.execute(sa.update(proposals).where(proposals.c.id == pid, proposals.c.state == "draft")
                                .values(**values)) if values else None
            if done is not None and done.rowcount != 1:
                raise ConflictError(f"proposal {pid} is no longer a draft")
            return _json(load(store, pid, conn))

    @api.post("/proposals/{pid}/submit", summary="Submit a draft for review (its author)")
    def submit(request: Request, pid: int, user: User = Depends(signed_in)):
        p = get_visible(request, user, pid)
        if p["author"] != user.username:
            raise ForbiddenError(f"only its author ({p['author']}) submits proposal {pid}")
        return _json(_move(store_of(request), pid, ("draft",), "submitted", user.username, None))

    def no_new_errors(p: dict) -> None:
        n = p["summary"]["new_errors"]
        if n:
            raise ConflictError(f"proposal {p['id']} adds {n} error(s) ({', '.join(p['summary']['new_error_codes'])}); "
                                "it cannot be approved or applied")

    @api.post("/proposals/{pid}/approve", summary="Approve a submitted proposal (reviewer)")
    def approve(request: Request, pid: int, body: Annotated[Why | None, Body()] = None,
                user: User = Depends(role("reviewer"))):
        get_visible(request, user, pid)
        return _json(_move(store_of(request), pid, ("submitted",), "approved", user.username,
                           body.why if body else None, check=no_new_errors))

    @api.post("/proposals/{pid}/reject", summary="Reject a proposal, saying why (reviewer)")
    def reject(request: Request, pid: int, body: Why, user: User = Depends(role("reviewer"))):
        get_visible(request, user, pid)
        if not (body.why or "").strip():
            raise ProposalError("why: say why the proposal is rejected")
        return _json(_move(store_of(request), pid, ("submitted", "approved"), "rejected", user.username, body.why))

    @api.post("/proposals/{pid}/apply", summary="Apply an approved proposal: one new city version, all or nothing")
    def apply(request: Request, pid: int, body: Annotated[ApplyBody | None, Body()] = None,
              if_match: Annotated[str | None, Header()] = None,
              user: User = Depends(role("reviewer", "admin"))):
        p = get_visible(request, user, pid)
        seen = body.base_version if body is not None else None
        if if_match is not None:
            text = if_match.strip().removeprefix("W/").strip('"')
            if not text.isdigit():
                raise ProposalError(f"If-Match must be the city version the proposal was made on; got {if_match!r}")
            seen = int(text)
        if seen is None:
            raise ProposalError("send the city version you reviewed: header If-Match: <base_version> "
                                "or {\"base_version\": n}")
        if seen != p["base_version"]:
            raise StaleError(f"proposal {pid} was made on version {p['base_version']}, you sent {seen}")
        if p["state"] != "approved":
            raise ConflictError(f"proposal {pid} is {p['state']}: only an approved proposal can be applied")
        no_new_errors(p)
        store = store_of(request)
        version, city = store.snapshot()
        if version != p["base_version"]:
            raise StaleError(f"the city is at version {version}; proposal {pid} was made on version "
                             f"{p['base_version']}: it must be drawn again on the current city")
        units = parse_units(p["units"], city, p["street_code"], p["level"])
        new, changed = proposed_city(city, p["street_code"], p["level"], units)
        if review(city, new, p["street_code"], p["level"], p["rules"], version)["summary"]["new_errors"]:
            raise ConflictError(f"proposal {pid} adds errors to the current city; it cannot be applied")

        def record(conn, v):
            done = conn.execute(sa.update(proposals).where(proposals.c.id == pid, proposals.c.state == "approved")
                                .values(state="applied", applied_version=v))
            if done.rowcount != 1:
                raise ConflictError(f"proposal {pid} changed meanwhile; nothing was applied")
            _event(conn, pid, "applied", user.username, f"version {v}")
            if settings.test_apply_delay:
                log.warning("test apply delay: proposal %s, version %s written, sleeping %.1f s before commit",
                            pid, v, settings.test_apply_delay)
                time.sleep(settings.test_apply_delay)

        store.commit({name: new[name] for name in changed}, base_version=version, action="apply",
                     source=f"proposal {pid}", author=user.username, why=p["title"] + (
                         f": {p['reason']}" if p["reason"] else ""), proposal_id=pid,
                     street_code=p["street_code"], before_commit=record)
        return _json(load(store, pid))

    @api.get("/history", summary="Versions of the city: who, when, why, which proposal")
    def history(request: Request, user: User | None = Depends(reader)):
        rows = store_of(request).history()
        if user is not None and user.role == "street_staff":
            rows = [r for r in rows if r.get("street_code") in (None, user.street_code)]
        return _json({"versions": [{"version": r["version"], "at": r["created_at"].isoformat(),
                                    "action": r["action"], "by": r.get("author"), "why": r.get("why"),
                                    "proposal_id": r.get("proposal_id"), "street_code": r.get("street_code"),
                                    "source": r["source"],
                                    "layers": {k: v["count"] for k, v in r["layers"].items()}} for r in rows]})

    return api

"""Findings: one problem at one place, as rows of a GeoDataFrame (the output of ``check``).

Columns (DESIGN.md): ``code``, ``severity`` (``error`` for the four principles, ``warning`` for
advisories), ``layer``, ``ids`` (list of unit codes), ``parent``, ``area_m2``, ``value``, ``limit``,
``rule``, ``source`` (seed document), ``message`` (Chinese), ``lies_in`` (for ``orphan`` and
``outside_parent``: the code of the unit of the parent level the unit lies mostly in, when that is
not its declared parent) and ``geometry`` (in the city's CRS).

Examples
--------
>>> from shapely import box
>>> f = findings([{"code": "gap", "severity": "error", "layer": "grids", "ids": ["G1"],
...               "area_m2": 12.5, "rule": "地无空白", "source": "002", "message": "空白 12.5 m²",
...               "geometry": box(0, 0, 5, 2.5)}], crs="EPSG:3857")
>>> summary(f, {"grids": 10}, "national")["layers"]["grids"]
{'features': 10, 'errors': 1, 'warnings': 0}
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.atomic import replacing

COLUMNS = ["code", "severity", "layer", "ids", "parent", "area_m2", "value", "limit", "rule", "source",
           "message", "lies_in"]

#: Every finding code, its severity and the principle it serves.
CODES: dict[str, str] = {
    "invalid_geometry": "error", "duplicate_id": "error", "orphan": "error", "overlap": "error",
    "gap": "error", "outside_parent": "error", "unmatched_edges": "warning", "sliver": "warning",
    "multipart": "warning", "unassigned_building": "error", "multi_assigned_building": "error",
    "misassigned_building": "error", "households_mismatch": "error", "size_below": "warning",
    "size_above": "warning", "merge_candidate": "warning", "facility_shortfall": "warning",
    "uncovered": "warning",
    # defects of single features found on reading (gis.io) and of the road network (gis.coverage)
    "empty_geometry": "error", "missing_code": "error", "invalid_value": "error", "parent_inferred": "warning",
    "network_piece": "warning",
}

#: Codes that only real data shows (``gis.synth`` cities are written to the model's conventions).
READ_CODES = ("empty_geometry", "missing_code", "invalid_value", "parent_inferred", "network_piece")


def finding(code: str, layer: str, ids, geometry, message: str, *, rule: str, source: str | None = None,
            severity: str | None = None, parent=None, area=None, value=None, limit=None, lies_in=None) -> dict:
    """One finding row (a dict in ``COLUMNS`` + ``geometry``); ``severity`` defaults to the code's.

    >>> row = finding("gap", "grids", ["G1"], None, "空白 12.5 m²", rule="地无空白", source="002", area=12.5)
    >>> row["severity"], row["ids"], row["lies_in"]
    ('error', ['G1'], None)
    """
    return {"code": code, "severity": severity or CODES.get(code), "layer": layer, "ids": list(ids),
            "parent": parent, "area_m2": area, "value": value, "limit": limit, "rule": rule, "source": source,
            "message": message, "lies_in": lies_in, "geometry": geometry}


def findings(rows, crs) -> gpd.GeoDataFrame:
    """A findings GeoDataFrame from a list of dicts or a DataFrame with (some of) ``COLUMNS``."""
    df = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    geometry = df["geometry"] if "geometry" in df else None
    out = pd.DataFrame({c: df[c] if c in df else None for c in COLUMNS}, index=range(len(df)))
    if len(df):
        out["severity"] = out["severity"].fillna(out["code"].map(CODES))
    for c in ("area_m2", "value", "limit"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    for c in ("parent", "lies_in"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    geom = np.asarray(geometry, dtype=object) if geometry is not None else np.full(len(df), None)
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geom, crs=crs).values, crs=crs)


def key(code: str, layer: str | None, ids) -> tuple:
    """The identity of a finding across two checks: its code, layer and sorted unit ids.

    >>> key("overlap", "grids", ["G2", "G1"])
    ('overlap', 'grids', ('G1', 'G2'))
    """
    return code, layer, tuple(sorted(map(str, ids or [])))


def concat(frames: list[gpd.GeoDataFrame], crs) -> gpd.GeoDataFrame:
    """Concatenate findings frames, ordered by severity, layer, code."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return findings([], crs)
    out = pd.concat(frames, ignore_index=True)
    order = {"error": 0, "warning": 1}
    out = out.sort_values(["severity", "layer", "code"], key=lambda s: s.map(order) if s.name == "severity" else s,
                          kind="stable")
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=crs)


def summary(found: gpd.GeoDataFrame, features: dict[str, int], rule_set: str) -> dict:
    """Counts per layer: features, errors and warnings, and the rule set used."""
    layers = {}
    for layer, n in features.items():
        sub = found[found["layer"] == layer]
        layers[layer] = {"features": int(n), "errors": int((sub["severity"] == "error").sum()),
                         "warnings": int((sub["severity"] == "warning").sum())}
    return {"layers": layers, "rule_set": rule_set,
            "errors": int((found["severity"] == "error").sum()),
            "warnings": int((found["severity"] == "warning").sum())}


def to_json(found: gpd.GeoDataFrame) -> dict:
    """The JSON form of DESIGN.md; geometries in WGS84 (RFC 7946)."""
    wgs = found.to_crs(4326) if found.crs is not None and len(found) else found
    geoms = shapely.to_geojson(np.asarray(wgs.geometry.values, dtype=object))
    rows = []
    for rec, g in zip(found[COLUMNS].to_dict("records"), geoms):
        rec = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
        rec["ids"] = list(rec["ids"] or [])
        rec["geometry"] = json.loads(g) if g is not None else None
        rows.append(rec)
    return {"findings": rows, "summary": found.attrs.get("summary", {})}


def write_gpkg(found: gpd.GeoDataFrame, path, layer: str = "findings") -> Path:
    """Write findings to a GeoPackage, all or nothing (``ids`` as a JSON list)."""
    out = found.copy()
    out["ids"] = out["ids"].map(lambda ids: json.dumps(list(ids or []), ensure_ascii=False))
    with replacing(path) as tmp:
        out.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
    return Path(path)

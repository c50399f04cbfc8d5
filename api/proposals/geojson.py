"""Proposals' units in and out: GeoJSON FeatureCollections in WGS84, checked on the way in.

A proposal is the full new set of units of one level inside one street, sent as GeoJSON
(RFC 7946: WGS84 longitude/latitude); :func:`parse_units` reads it into the city's CRS, back on the
stored lines (:func:`gis.edit.onto_stored`), and refuses what cannot be a street's units.
:func:`read_area` reads a drawn area; :func:`feature_collection` writes units back out.
"""

from __future__ import annotations

import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from api.errors import ProposalError
from gis.check.level import polygonal
from gis.edit import OUTSIDE_TOLERANCE_M2, in_street, onto_stored
from gis.model import City

WGS84_NAMES = {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "CRS84", "OGC:CRS84",
               "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "EPSG:4326", "urn:ogc:def:crs:EPSG::4326",
               "http://www.opengis.net/def/crs/EPSG/0/4326"}


def feature_collection(units: gpd.GeoDataFrame) -> dict:
    """Units (code, name) as a GeoJSON FeatureCollection in WGS84.

    >>> import geopandas as gpd
    >>> u = gpd.GeoDataFrame({"code": ["A"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    >>> feature_collection(u)["features"][0]["properties"]
    {'code': 'A'}
    """
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


def parse_units(fc: Any, city: City, street: str, level: str) -> gpd.GeoDataFrame:
    """The proposed units (``code``, ``name``, geometry in the city's CRS), checked: a GeoJSON
    FeatureCollection in WGS84 of valid polygons with unique codes, inside the street, using no code
    of another street. ProposalError (400) says what is wrong.

    >>> from gis import read_city
    >>> city = read_city("data/sample.gpkg")
    >>> try:
    ...     parse_units({"type": "FeatureCollection", "features": []}, city, "360102001000", "grids")
    ... except ProposalError as e:
    ...     print(e)
    units is empty: a proposal holds the full new set of the street's units
    """
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
    units = onto_stored(gpd.GeoDataFrame({"code": codes, "name": names}, geometry=geoms, crs=4326).to_crs(city.crs),
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


def read_area(geometry: Any, city: City) -> shapely.Geometry:
    """A drawn area (GeoJSON Polygon or MultiPolygon, WGS84) in the city's metric CRS; a ring that
    crosses itself is repaired to its polygonal parts.

    >>> from gis import read_city
    >>> bowtie = {"type": "Polygon", "coordinates": [[[115.85, 28.68], [115.86, 28.69], [115.86, 28.68],
    ...                                               [115.85, 28.69], [115.85, 28.68]]]}
    >>> read_area(bowtie, read_city("data/sample.gpkg")).geom_type
    'MultiPolygon'
    """
    area = _lonlat_polygon(geometry, "area")
    if not area.is_valid:
        area = polygonal(np.array([shapely.make_valid(area)]))[0]
    area = gpd.GeoSeries([area], crs=4326).to_crs(city.metric_crs).iloc[0]
    if area.area <= OUTSIDE_TOLERANCE_M2:
        raise ProposalError("画出的范围面积为零 (the drawn area has no area)")
    return area

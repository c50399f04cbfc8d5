"""GeoJSON Feature texts of stored features, as the embedded store writes them (and PostGIS the same).

Features are written as text, to be joined into a FeatureCollection, not parsed and dumped again:
WGS84 coordinates rounded to :data:`DECIMALS` places, properties in the stored order, the ``code``
as the feature's ``id``.

Examples
--------
>>> page = GeoJSONPage.of(['{"type":"Feature"}', '{"type":"Feature"}'], matched=5)
>>> page.returned, page.matched, page.features.count("Feature")
(2, 5, 2)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.store.projection import transformer

#: Decimal places of the GeoJSON coordinates (WGS84 degrees): 1e-9° is about 0.1 mm.
DECIMALS = 9


@dataclass
class GeoJSONPage:
    """One page of a layer as GeoJSON: ``features``, the JSON texts of its features joined by commas
    (what goes between the brackets of a FeatureCollection's ``features``); how many are on the page
    (``returned``) and how many matched in all (``matched``)."""

    features: str
    matched: int
    returned: int

    @classmethod
    def of(cls, features: list[str], matched: int) -> GeoJSONPage:
        """The page of these feature texts."""
        return cls(",".join(features), matched, len(features))


def geojson_features(properties: list[dict], geometries, crs: str | None) -> list[str]:
    """GeoJSON Feature texts (UTF-8 text, WGS84 coordinates rounded to :data:`DECIMALS` places) of
    features with these ``properties`` and ``geometries`` (in ``crs``, WKT; None: taken as they are);
    a feature's ``id`` is its ``code`` property when it has one.

    >>> geojson_features([{"code": "G1", "name": "第1网格"}], [shapely.Point(500000, 3000000)], "EPSG:4548")
    ['{"type":"Feature","geometry":{"type":"Point","coordinates":[117.0,27.111635508]},"properties":{"code":"G1","name":"第1网格"},"id":"G1"}']
    """
    geoms = np.asarray(geometries, dtype=object)
    to_wgs = transformer(crs, "EPSG:4326") if crs else None

    def wgs84(*xyz):
        return tuple(np.round(c, DECIMALS) for c in (to_wgs.transform(*xyz) if to_wgs else xyz))

    texts = shapely.to_geojson(shapely.transform(geoms, wgs84, include_z=None, interleaved=False))
    out = []
    for props, geometry in zip(properties, texts):
        code = props.get("code")
        out.append('{"type":"Feature","geometry":' + (geometry or "null") + ',"properties":'
                   + json.dumps(props, ensure_ascii=False, separators=(",", ":"), default=json_value)
                   + ("" if code is None else ',"id":' + json.dumps(code, ensure_ascii=False)) + "}")
    return out


def frame_geojson(frame: gpd.GeoDataFrame) -> list[str]:
    """:func:`geojson_features` of the rows of a layer's frame (its columns are the properties).

    >>> import geopandas as gpd
    >>> frame_geojson(gpd.GeoDataFrame({"code": ["A"], "households": [None]}, geometry=[None]))
    ['{"type":"Feature","geometry":null,"properties":{"code":"A","households":null},"id":"A"}']
    """
    props = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    records = props.astype(object).where(props.notna(), None).to_dict("records")
    return geojson_features(records, frame.geometry.values, frame.crs.to_wkt() if frame.crs is not None else None)


def json_value(v):
    """``json.dumps``'s ``default``: numpy scalars as Python numbers, dates and times in ISO 8601.

    >>> import datetime
    >>> json.dumps({"n": np.int64(3), "at": datetime.date(2026, 1, 2)}, default=json_value)
    '{"n": 3, "at": "2026-01-02"}'
    """
    if isinstance(v, np.generic):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    raise TypeError(f"{type(v).__name__} is not JSON")

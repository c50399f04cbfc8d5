"""A layer's GeoDataFrame as the rows of its table, and back.

A row holds the layer's standard columns (``gis.model.SCHEMA``) typed, its other columns as one JSON
object (``extra``), its bounding box (``minx``…``maxy``, for the embedded store's R*Tree), its
position in the source (``fid``, from 1) and its geometry.

Examples
--------
>>> import geopandas as gpd, shapely
>>> grids = gpd.GeoDataFrame({"code": ["G1"], "households": [120], "colour": ["red"]},
...                          geometry=[shapely.box(0, 0, 2, 1)], crs=4548)
>>> row = layer_rows("grids", grids)[0]
>>> row["fid"], row["households"], row["extra"], row["maxx"]
(1, 120, {'colour': 'red'}, 2.0)
>>> back = layer_frame("grids", [row], ["code", "households", "colour"], grids.crs)
>>> back.drop(columns="geometry").values.tolist(), back.geometry.equals(grids.geometry)
([['G1', 120, 'red']], True)
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.model import SCHEMA

#: The bounding box columns of every layer table.
BBOX = ("minx", "miny", "maxx", "maxy")


def layer_meta(gdf: gpd.GeoDataFrame, version: int) -> dict:
    """What a versions row records of one layer: its columns, its count and the version it last changed in.

    >>> import geopandas as gpd
    >>> layer_meta(gpd.GeoDataFrame({"code": ["A"]}, geometry=[None]), 3)
    {'columns': ['code'], 'count': 1, 'changed': 3}
    """
    return {"columns": [c for c in gdf.columns if c != gdf.geometry.name], "count": len(gdf), "changed": version}


def _native(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def layer_rows(name: str, gdf: gpd.GeoDataFrame, srid: int | None = None) -> list[dict]:
    """Row dicts of the layer ``name``: standard columns typed, other columns as JSON, bbox, geometry.

    Parameters
    ----------
    name : str
        The layer (a key of ``gis.model.SCHEMA``).
    gdf : geopandas.GeoDataFrame
        Its features, in source order.
    srid : int, optional
        Written into the geometries (PostGIS reads it from their EWKB); None: none.

    Returns
    -------
    list of dict
        One a feature, ``fid`` from 1 (see the module's example).
    """
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    geoms = np.where(shapely.is_missing(geoms), None, geoms)
    bounds = shapely.bounds(geoms)
    if srid is not None:
        geoms = shapely.set_srid(geoms, srid)
    standard = [c for c in SCHEMA[name] if c in gdf.columns]
    extras = [c for c in gdf.columns if c not in SCHEMA[name] and c != gdf.geometry.name]
    extra = (json.loads(pd.DataFrame(gdf[extras]).to_json(orient="records", force_ascii=False, date_format="iso"))
             if extras else [None] * len(gdf))
    records = pd.DataFrame(gdf[standard]).astype(object).to_dict("records")
    out = []
    for i, rec in enumerate(records):
        row = {k: _native(v) for k, v in rec.items()}
        row.update(fid=i + 1, extra=extra[i], geom=geoms[i],
                   **{k: (None if np.isnan(b) else float(b)) for k, b in zip(BBOX, bounds[i])})
        out.append(row)
    return out


def layer_frame(name: str, rows, columns: list[str], crs) -> gpd.GeoDataFrame:
    """The layer ``name``'s GeoDataFrame from stored ``rows``: ``columns`` in their order, standard dtypes.

    Parameters
    ----------
    name : str
        The layer.
    rows : sequence of mapping
        Rows of its table (as :func:`layer_rows` writes them), in the order wanted.
    columns : list of str
        The layer's columns, as its versions row records them.
    crs : pyproj.CRS or None
        The city's CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        Index 0…n-1 (see the module's example).
    """
    extra = pd.DataFrame([r["extra"] or {} for r in rows], index=range(len(rows)))
    data = {}
    for col in columns:
        kind = SCHEMA[name].get(col)
        if kind is None:
            data[col] = extra[col] if col in extra else pd.Series([None] * len(rows), dtype=object)
            continue
        values = pd.Series([r[col] for r in rows], dtype=object)
        if kind == "int":
            data[col] = values.astype("int64") if values.notna().all() else values.astype("Int64")
        elif kind == "float":
            data[col] = pd.to_numeric(values, errors="coerce").astype(float)
        elif kind == "bool":
            data[col] = values.astype(bool) if values.notna().all() else values.astype("boolean")
        else:
            data[col] = values
    geometry = gpd.GeoSeries(np.array([r["geom"] for r in rows], dtype=object), crs=crs)
    return gpd.GeoDataFrame(pd.DataFrame(data, index=range(len(rows))), geometry=geometry.values, crs=crs)

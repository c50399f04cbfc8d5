"""GeoDataFrames as map layers: into WGS 84, tooltips as escaped HTML, one styled GeoJSON layer.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> units = gpd.GeoDataFrame({"code": ["G<1>"], "name": ["第1网格"]}, geometry=[box(0, 0, 100, 100)], crs=4548)
>>> shown = wgs84(units)
>>> shown.crs.to_epsg(), unit_label("grids", shown).tolist()
(4326, ['网格 G&lt;1&gt; 第1网格'])
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.model import LABELS


def wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` without empty geometries, in EPSG:4326, coordinates rounded to 1e-6° (~0.1 m).

    Examples
    --------
    >>> from shapely import Point
    >>> pts = gpd.GeoDataFrame(geometry=[Point(500000, 3170000)], crs=4548)
    >>> wgs84(pts).geometry.x.round(6).tolist()
    [117.0]
    """
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].reset_index(drop=True)
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    geom = shapely.transform(np.asarray(gdf.geometry.values, dtype=object), lambda c: np.round(c, 6))
    return gdf.set_geometry(gpd.GeoSeries(geom, index=gdf.index, crs=4326))


def html_text(s: pd.Series) -> pd.Series:
    """Strings of ``s`` escaped for HTML, '' for missing values.

    Examples
    --------
    >>> html_text(pd.Series(["a<b", None])).tolist()
    ['a&lt;b', '']
    """
    s = s.astype("string").fillna("")
    return s.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")


def unit_label(level: str, gdf: gpd.GeoDataFrame) -> pd.Series:
    """'网格 360102001003-02 第2网格' per unit (level, code and name, escaped for HTML).

    Examples
    --------
    >>> unit_label("communities", pd.DataFrame({"code": ["C1"]})).tolist()
    ['社区 C1']
    """
    label = LABELS[level] + " " + html_text(gdf["code"])
    if "name" in gdf:
        label = (label + " " + html_text(gdf["name"])).str.rstrip()
    return label


def geojson_layer(gdf: gpd.GeoDataFrame, name: str, style: dict, radius: float | None = None,
             show: bool = True) -> folium.GeoJson:
    """A GeoJson layer with a constant style and a per-feature HTML tooltip from column ``tip``.

    Parameters
    ----------
    gdf : GeoDataFrame
        ``tip`` and the geometry, in EPSG:4326 (:func:`wgs84`).
    name : str
        The layer's name in the layer control.
    style : dict
        Leaflet path options.
    radius : float, optional
        Points are drawn as circle markers of this radius (pixels).
    show : bool
        Whether the layer starts switched on.

    Returns
    -------
    folium.GeoJson

    Examples
    --------
    >>> from shapely import Point
    >>> pts = gpd.GeoDataFrame({"tip": ["设施"]}, geometry=[Point(115.9, 28.7)], crs=4326)
    >>> geojson_layer(pts, "设施 (1)", {"color": "#000"}, radius=5).layer_name
    '设施 (1)'
    """
    marker = None
    if radius is not None and gdf.geom_type.isin(["Point", "MultiPoint"]).any():
        marker = folium.CircleMarker(radius=radius, fill=True)
    return folium.GeoJson(
        gdf.to_geo_dict(drop_id=False), name=name, show=show, marker=marker, style_function=lambda _f, s=style: s,
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )


__all__ = ["geojson_layer", "html_text", "unit_label", "wgs84"]

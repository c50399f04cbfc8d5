"""The city model: layers, their standard columns, the nesting of levels, and the metric CRS.

A city is a set of GeoDataFrames in the standard layout of DESIGN.md (``streets``,
``communities``, ``grids``, ``buildings``, ``facilities``, ``roads``, ``barriers``), stored in the
CRS of its source and measured in a projected CRS chosen from the data.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> streets = gpd.GeoDataFrame({"code": ["S1"], "name": ["东华门街道"]},
...                            geometry=[box(116.38, 39.90, 116.41, 39.92)], crs="EPSG:4326")
>>> city = City({"streets": streets})
>>> city.metric_crs.name
'CGCS2000 / 3-degree Gauss-Kruger CM 117E'
>>> round(float(city.metric("streets").area.iloc[0]) / 1e6, 1)
5.7
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pyproj

#: The unit levels from top to bottom; each tiles its parent.
LEVELS: tuple[str, ...] = ("streets", "communities", "grids")

#: Parent layer and the column holding the parent's code, per layer.
PARENT: dict[str, tuple[str, str]] = {
    "communities": ("streets", "street_code"),
    "grids": ("communities", "community_code"),
    "buildings": ("grids", "grid_code"),
    "facilities": ("communities", "community_code"),
}

#: Standard columns of each layer and their types; ``code`` is required in every unit layer.
SCHEMA: dict[str, dict[str, str]] = {
    "streets": {"code": "str", "name": "str", "district_code": "str", "households": "int", "residents": "int"},
    "communities": {"code": "str", "name": "str", "street_code": "str", "kind": "str", "has_committee": "bool",
                    "households": "int", "residents": "int"},
    "grids": {"code": "str", "name": "str", "community_code": "str", "kind": "str", "basis": "str",
              "households": "int", "residents": "int"},
    "buildings": {"code": "str", "households": "int", "residents": "int", "floor_area_m2": "float",
                  "estate": "str", "grid_code": "str"},
    "facilities": {"code": "str", "name": "str", "kind": "str", "floor_area_m2": "float", "community_code": "str"},
    # bridge / tunnel: any value but no/false/0/否 marks one; layer: OSM's level as text (0, or not a
    # number: the ground). Roads on another level meet only at their ends (gis.coverage.network).
    "roads": {"code": "str", "name": "str", "kind": "str", "bridge": "str", "tunnel": "str", "layer": "str"},
    "barriers": {"code": "str", "name": "str", "kind": "str", "bridge": "str", "tunnel": "str", "layer": "str"},
}

#: Columns a layer must have (after mapping; a unit layer of names only takes its names as codes);
#: parent codes are inferred when absent.
REQUIRED: dict[str, tuple[str, ...]] = {
    "streets": ("code",), "communities": ("code",), "grids": ("code",),
    "buildings": ("households",), "facilities": ("kind",), "roads": (), "barriers": (),
}

#: Geometry types allowed per layer.
GEOMETRY: dict[str, tuple[str, ...]] = {
    **{lv: ("Polygon", "MultiPolygon") for lv in LEVELS},
    "buildings": ("Polygon", "MultiPolygon", "Point"),
    "facilities": ("Point", "Polygon", "MultiPolygon"),
    "roads": ("LineString", "MultiLineString"),
    "barriers": ("LineString", "MultiLineString", "Polygon", "MultiPolygon"),
}

#: Chinese names of the layers, for messages and maps.
LABELS: dict[str, str] = {"streets": "街道", "communities": "社区", "grids": "网格", "buildings": "建筑",
                          "facilities": "设施", "roads": "道路", "barriers": "障碍",
                          "enclosures": "街块"}  # the pieces grids are redrawn from (gis.simulate.enclosures)

#: Community kinds: 地缘型/单元型/单位型.
COMMUNITY_KINDS: dict[str, str] = {"地缘型": "territorial", "单元型": "unit", "单位型": "work_unit"}


def metric_crs(bounds_lonlat) -> pyproj.CRS:
    """A projected CRS for measuring data with these WGS84 bounds (minx, miny, maxx, maxy).

    Inside China (73–135°E, 3–54°N) the CGCS2000 3-degree Gauss–Krüger zone of the central
    meridian nearest the centre (EPSG:4534–4554); elsewhere the UTM zone of the centre.

    >>> metric_crs((121.4, 31.1, 121.6, 31.3)).to_epsg()
    4549
    >>> metric_crs((2.2, 48.8, 2.4, 48.9)).to_epsg()
    32631
    """
    minx, miny, maxx, maxy = bounds_lonlat
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    if 73 <= lon <= 136 and 3 <= lat <= 54:
        cm = int(np.clip(round(lon / 3) * 3, 75, 135))
        return pyproj.CRS.from_epsg(4534 + (cm - 75) // 3)
    zone = int((lon + 180) // 6) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@dataclass
class City:
    """Layers of one city in their source CRS, measured in ``metric_crs``.

    Parameters
    ----------
    layers : dict of str to GeoDataFrame
        Standard layers (see ``SCHEMA``), all in one CRS.
    source : str
        Where the city was read from, for messages.
    defects : list of dict
        Finding rows of single features found on reading (:mod:`gis.reading`), in the layers' CRS.
    parts : dict of str to GeoDataFrame
        Per unit level, the units stored in several features (:func:`gis.reading.dissolve_parts`).
    """

    layers: dict[str, gpd.GeoDataFrame]
    source: str = "<memory>"
    metric_crs: pyproj.CRS | None = None
    defects: list[dict] = field(default_factory=list, repr=False)
    parts: dict[str, gpd.GeoDataFrame] = field(default_factory=dict, repr=False)
    _metric: dict[str, gpd.GeoDataFrame] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.metric_crs is None:
            self.metric_crs = _choose_metric_crs(self.layers)

    @property
    def crs(self) -> pyproj.CRS:
        """The CRS of the layers as read."""
        return next(iter(self.layers.values())).crs

    def __contains__(self, layer: str) -> bool:
        return layer in self.layers

    def __getitem__(self, layer: str) -> gpd.GeoDataFrame:
        return self.layers[layer]

    def metric(self, layer: str) -> gpd.GeoDataFrame:
        """``layer`` projected to the metric CRS (cached)."""
        if layer not in self._metric:
            gdf = self.layers[layer]
            self._metric[layer] = gdf if gdf.crs.equals(self.metric_crs) else gdf.to_crs(self.metric_crs)
        return self._metric[layer]

    @property
    def levels(self) -> list[str]:
        """The unit levels present, top to bottom."""
        return [lv for lv in LEVELS if lv in self.layers]


def _choose_metric_crs(layers: dict[str, gpd.GeoDataFrame]) -> pyproj.CRS:
    first = next(iter(layers.values()))
    if first.crs.is_projected:
        return first.crs
    bounds = np.array([g.to_crs(4326).total_bounds if not g.crs.equals(pyproj.CRS(4326)) else g.total_bounds
                       for g in layers.values() if len(g)])
    return metric_crs((bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()))

"""Offline HTML maps (folium + vendored Leaflet): one module per map, on one shared page.

- :mod:`gis.maps.page`: the page every map is drawn on — :func:`base_map`, the title and legend
  boxes (:func:`finish_page`), :func:`save_map` / :func:`to_html` / :func:`show` with Leaflet
  inlined (nothing is loaded from a CDN);
- :mod:`gis.maps.style`: the colours (:data:`LEVEL_COLOURS`, :data:`SEVERITY_COLORS`) and line
  styles of every map;
- :mod:`gis.maps.layers`: GeoDataFrames as layers (WGS 84, escaped tooltips, styled GeoJSON);
- :mod:`gis.maps.findings` (:func:`findings_map`), :mod:`gis.maps.coverage`
  (:func:`coverage_map`), :mod:`gis.maps.plan` (:func:`plan_map`): the maps.

Examples
--------
>>> import geopandas as gpd, tempfile, pathlib
>>> from shapely import box
>>> from gis.model import City
>>> from gis.findings import findings
>>> grids = gpd.GeoDataFrame({"code": ["G1", "G2"], "name": ["第1网格", "第2网格"]},
...                          geometry=[box(115.90, 28.67, 115.91, 28.68), box(115.91, 28.67, 115.92, 28.68)],
...                          crs="EPSG:4326")
>>> city = City({"grids": grids})
>>> found = findings([{"code": "gap", "layer": "grids", "ids": ["G1"], "message": "网格间空白 12 m²",
...                    "area_m2": 12.0, "geometry": box(115.9099, 28.67, 115.9101, 28.68)}], crs="EPSG:4326")
>>> path = save_map(findings_map(city, found), pathlib.Path(tempfile.mkdtemp()) / "findings.html")
>>> html = path.read_text(encoding="utf-8")
>>> "cdn.jsdelivr" in html, "第2网格" in html, "网格间空白" in html
(False, True, True)
"""

from gis.maps.coverage import KIND_COLORS, coverage_map
from gis.maps.findings import CANVAS_ABOVE, MAX_BUILDINGS, findings_map
from gis.maps.page import base_map, finish_page, save_map, show, to_html
from gis.maps.plan import plan_map
from gis.maps.style import LEVEL_COLOURS, LEVEL_STYLES, SEVERITY_COLORS, SEVERITY_LABELS

__all__ = ["CANVAS_ABOVE", "KIND_COLORS", "LEVEL_COLOURS", "LEVEL_STYLES", "MAX_BUILDINGS", "SEVERITY_COLORS",
           "SEVERITY_LABELS", "base_map", "coverage_map", "findings_map", "finish_page", "plan_map", "save_map", "show",
           "to_html"]

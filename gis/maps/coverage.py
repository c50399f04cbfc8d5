"""The map of walking coverage of facilities (:func:`coverage_map`).

Examples
--------
>>> KIND_COLORS["elderly_station"]
'#2ca02c'
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.maps.layers import geojson_layer, html_text, unit_label, wgs84
from gis.maps.page import base_map, finish_page
from gis.maps.style import LEVEL_STYLES, SEVERITY_COLORS
from gis.model import LABELS


#: Colours of the facility kinds on coverage maps.
KIND_COLORS: dict[str, str] = {"service_centre": "#1f77b4", "elderly_station": "#2ca02c", "police_room": "#9467bd",
                               "shelter": "#8c564b", "fire_station": "#d62728", "camera": "#17becf"}


def _reached(net, node_distance, r: float) -> np.ndarray:
    """The road within ``r`` of a facility: whole edges, and straight pieces from each end of the rest."""
    du, dv = node_distance[net.u], node_distance[net.v]
    whole = (du <= r) & (dv <= r) | (r - du >= net.length) | (r - dv >= net.length)
    a = np.clip(r - du, 0, net.length)
    bb = np.clip(r - dv, 0, net.length)
    part_u, part_v = ~whole & (a > 0), ~whole & (bb > 0)
    ends = [(net.geoms[part_u], np.zeros(part_u.sum()), a[part_u]),
            (net.geoms[part_v], net.length[part_v] - bb[part_v], net.length[part_v])]
    pieces = [shapely.linestrings(np.stack([shapely.get_coordinates(shapely.line_interpolate_point(g, s)),
                                            shapely.get_coordinates(shapely.line_interpolate_point(g, e))], 1))
              for g, s, e in ends if len(g)]
    return np.concatenate([net.geoms[whole], *pieces])


def coverage_map(city, cov, kinds=None, *, area_width: float = 25.0) -> folium.Map:
    """A folium map of walking coverage (``gis.coverage.coverage``): one group of layers per kind.

    Per facility kind: its service area (the road pieces within the walking distance of a facility,
    widened by ``area_width`` metres), its facilities, the buildings beyond the distance
    (highlighted) and the suggested new sites with the households each would add. Communities are
    outlined, pieces of road cut off from the main network (``network_piece`` findings) drawn in
    orange; a legend names the kinds in Chinese. Save it with ``save_map`` (works offline).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> from gis.model import City
    >>> from gis.coverage import coverage
    >>> c = City({"roads": gpd.GeoDataFrame(geometry=[LineString([(0, 0), (900, 0)])], crs=4548),
    ...           "buildings": gpd.GeoDataFrame({"code": ["B1"], "households": [50]}, geometry=[Point(800, 5)], crs=4548),
    ...           "facilities": gpd.GeoDataFrame({"kind": ["elderly_station"]}, geometry=[Point(0, 0)], crs=4548)})
    >>> m = coverage_map(c, coverage(c, kinds=["elderly_station"], site=1))
    >>> sorted(x.layer_name for x in m._children.values() if isinstance(x, folium.GeoJson))
    ['社区养老服务站 建议新址 (1)', '社区养老服务站 未覆盖建筑 (1)', '社区养老服务站 步行300米覆盖范围', '社区养老服务站 现有设施 (1)']
    """
    from gis.coverage.kinds import label

    net = cov.network
    m = base_map()
    crs = city.metric_crs
    if "communities" in city and len(city["communities"]):
        gdf = wgs84(city["communities"])
        geojson_layer(gdf.assign(tip=unit_label("communities", gdf))[["tip", "geometry"]], f"{LABELS['communities']}",
                 {**LEVEL_STYLES["communities"], "fill": True, "fillOpacity": 0.0}).add_to(m)
    fac = city.metric("facilities") if "facilities" in city else None
    b = city.metric("buildings")
    rows = []
    for k in (kinds or list(cov.radius)):
        r, color, name = cov.radius[k], KIND_COLORS.get(k, "#555555"), label(k)
        pieces = _reached(net, cov.node_distance[k], r)
        if len(pieces):
            area = shapely.buffer(shapely.union_all(pieces), area_width)
            geojson_layer(wgs84(gpd.GeoDataFrame({"tip": [f"{name}：步行 {r:,.0f} m 可达"]}, geometry=[area], crs=crs)),
                     f"{name} 步行{r:,.0f}米覆盖范围",
                     {"color": color, "weight": 0, "fillColor": color, "fillOpacity": 0.25}).add_to(m)
        if fac is not None and (fac["kind"] == k).any():
            f = fac[fac["kind"] == k]
            tip = name + " " + (html_text(f["name"]) if "name" in f else html_text(f.get("code", pd.Series("", f.index))))
            geojson_layer(wgs84(f.assign(tip=tip)[["tip", "geometry"]].set_geometry(f.representative_point())),
                     f"{name} 现有设施 ({len(f)})", {"color": "#000000", "weight": 1.5, "fillColor": color,
                                                   "fillOpacity": 1.0}, radius=7).add_to(m)
        far = cov.distance[k].to_numpy() > r
        far &= b["households"].fillna(0).to_numpy() > 0
        if far.any():
            u = b[far]
            tip = "未覆盖：建筑 " + html_text(cov.distance["code"][far]) + "（" + u["households"].astype(int).astype(str) + " 户）"
            geojson_layer(wgs84(u.assign(tip=tip)[["tip", "geometry"]].set_geometry(u.representative_point())),
                     f"{name} 未覆盖建筑 ({int(far.sum())})", {"color": "#d62728", "weight": 1, "fillColor": "#ff9896",
                                                             "fillOpacity": 0.9}, radius=3).add_to(m)
        s = cov.sites[cov.sites["kind"] == k]
        if len(s):
            tip = ("建议新址 #" + s["rank"].astype(int).astype(str) + "：新增覆盖 "
                   + s["households_gained"].round().astype(int).astype(str) + " 户")
            geojson_layer(wgs84(s.assign(tip=tip)[["tip", "geometry"]]), f"{name} 建议新址 ({len(s)})",
                     {"color": color, "weight": 4, "fillColor": "#ffffff", "fillOpacity": 1.0}, radius=10).add_to(m)
        rows.append(f'<div><i class="sq" style="background:{color}40;border:2px solid {color}"></i>'
                    f'{name}（步行 {r:,.0f} m）</div>')
    rows += ['<div><i class="dot" style="background:#ff9896;border:2px solid #d62728"></i>未覆盖建筑</div>',
             '<div><i class="dot" style="background:#fff;border:3px solid #333"></i>建议新址</div>']
    cut = cov.findings[cov.findings["code"] == "network_piece"]
    if len(cut):
        color = SEVERITY_COLORS["warning"]
        geojson_layer(wgs84(cut.assign(tip=cut["message"])[["tip", "geometry"]]), f"不相连的道路块 ({len(cut)})",
                 {"color": color, "weight": 5, "opacity": 0.9}).add_to(m)
        rows.append(f'<div><i class="sq" style="background:{color}"></i>不相连的道路块</div>')
    shares = " · ".join(f"{label(k)} {share:.0%}" for k, share in cov.summary["share"].fillna(0).items())
    return finish_page(m, "<b>设施步行覆盖</b><br>" + shares, "<b>图例</b>" + "".join(rows),
                       wgs84(city["roads"]).total_bounds)


__all__ = ["KIND_COLORS", "coverage_map"]

"""The map of check findings over a city's units and buildings (:func:`findings_map`).

Buildings beyond ``MAX_BUILDINGS`` are sampled; beyond ``CANVAS_ABOVE`` they are drawn on a canvas.

Examples
--------
>>> MAX_BUILDINGS, CANVAS_ABOVE
(20000, 5000)
"""

from __future__ import annotations

import html as _html
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.maps.layers import geojson_layer, html_text, unit_label, wgs84
from gis.maps.page import base_map, finish_page
from gis.maps.style import LEVEL_STYLES, SEVERITY_COLORS, SEVERITY_LABELS
from gis.model import LABELS

#: Buildings drawn at most; larger layers are sampled (the layer name says so).
MAX_BUILDINGS = 20_000

#: Above this many buildings shown, paths are drawn on a canvas instead of as SVG elements.
CANVAS_ABOVE = 5_000

_BUILDING_STYLE = {"color": "#777777", "weight": 0.6, "fillColor": "#9e9e9e", "fillOpacity": 0.6, "opacity": 0.8}
_POINT_LAYERS = ("buildings", "facilities")


def findings_map(city, found: gpd.GeoDataFrame | None = None, *, tiles: str | None = None,
                 attribution: str | None = None) -> folium.Map:
    """A folium map of ``found`` over the unit levels and buildings of ``city``.

    One toggleable layer per unit level present (streets 街道, communities 社区, grids 网格;
    outlines with tooltips like "网格 360102001003-02 第2网格"), buildings (grey; a sample of
    ``MAX_BUILDINGS`` (of this module) when there are more, said in the layer name) and one layer per severity of
    findings (error red, warning orange; tooltip = message, code and area). Findings on
    buildings or facilities, and point findings, are drawn as circle markers. A legend and a
    title box with the counts are fixed on the page. Findings without geometry are counted but
    not drawn. With more than ``CANVAS_ABOVE`` buildings shown, paths are drawn on a canvas and
    the buildings layer starts switched off (tick it in the layer control).

    Parameters
    ----------
    city : gis.model.City
        The city; its layers may be in any CRS (shown in EPSG:4326).
    found : GeoDataFrame, optional
        Findings as made by ``gis.findings.findings`` (a ``None`` CRS is taken as the city's).
    tiles : str, optional
        A base-map URL template (``https://…/{z}/{x}/{y}.png``); by default none — boundaries on a
        plain light background, so the map needs no network.
    attribution : str, optional
        Attribution of ``tiles``.

    Returns
    -------
    folium.Map
        Write it with ``save_map`` for a file that works offline.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> from gis.model import City
    >>> city = City({"communities": gpd.GeoDataFrame({"code": ["C1"], "name": ["滕王阁社区"]},
    ...     geometry=[box(115.88, 28.68, 115.89, 28.69)], crs="EPSG:4326")})
    >>> m = findings_map(city)
    >>> sorted(c.layer_name for c in m._children.values() if isinstance(c, folium.GeoJson))
    ['社区 (1)']
    """
    buildings = _buildings(city)
    m = base_map(prefer_canvas=buildings is not None and len(buildings[0]) > CANVAS_ABOVE)
    if tiles:
        folium.TileLayer(tiles, attr=attribution or "底图", name="底图", overlay=False, control=False).add_to(m)

    counts = {}
    for level in city.levels:
        gdf = wgs84(city[level])
        counts[level] = len(city[level])
        if not len(gdf):
            continue
        label = unit_label(level, gdf)
        style = {**LEVEL_STYLES[level], "fill": True, "fillOpacity": 0.0}
        geojson_layer(gdf.assign(tip=label)[["tip", "geometry"]], f"{LABELS[level]} ({len(gdf)})", style).add_to(m)

    if buildings is not None:
        gdf, total = buildings
        counts["buildings"] = total
        name = f"{LABELS['buildings']} ({total})" if len(gdf) == total else \
            f"{LABELS['buildings']} (抽样 {len(gdf)}/{total})"
        tip = LABELS["buildings"] + " " + html_text(gdf["code"]) if "code" in gdf else pd.Series("建筑", gdf.index)
        geojson_layer(gdf.assign(tip=tip)[["tip", "geometry"]], name, _BUILDING_STYLE, radius=2,
                 show=len(gdf) <= CANVAS_ABOVE).add_to(m)

    severities = {}
    if found is not None:
        if found.crs is None:
            found = found.set_crs(city.crs)
        for sev in ("error", "warning"):
            sub = found[found["severity"] == sev]
            severities[sev] = len(sub)
            sub = sub[sub.geometry.notna() & ~sub.geometry.is_empty]
            if not len(sub):
                continue
            sub = wgs84(sub)
            point = sub["layer"].isin(_POINT_LAYERS) | sub.geom_type.isin(["Point", "MultiPoint"])
            geom = sub.geometry.where(~point, sub.geometry.representative_point())
            color = SEVERITY_COLORS[sev]
            style = {"color": color, "weight": 2.5, "opacity": 0.95, "fillColor": color, "fillOpacity": 0.35}
            geojson_layer(gpd.GeoDataFrame({"tip": _finding_tip(sub)}, geometry=geom, crs=4326),
                     f"{SEVERITY_LABELS[sev]} ({len(found[found['severity'] == sev])})", style, radius=6).add_to(m)

    return finish_page(m, _title_html(city, counts, severities, found), _legend_html(city, counts, found is not None),
                       _bounds(city))


def _buildings(city):
    """(buildings to draw in EPSG:4326, total count), or None."""
    if "buildings" not in city or not len(city["buildings"]):
        return None
    b = city["buildings"]
    total = len(b)
    if total > MAX_BUILDINGS:
        b = b.sample(n=MAX_BUILDINGS, random_state=0).sort_index()
    cols = ["code"] if "code" in b else []
    return wgs84(b[cols + [b.geometry.name]]), total


def _finding_tip(sub: gpd.GeoDataFrame) -> pd.Series:
    """'<b>message</b><br>code · 面积 12.5 m²' per finding."""
    area = sub["area_m2"].astype(float)
    area_text = pd.Series(np.where(area.notna(), " · 面积 " + area.round(1).astype(str) + " m²", ""),
                          index=sub.index)
    return "<b>" + html_text(sub["message"]) + "</b><br>" + html_text(sub["code"]) + area_text


def _bounds(city):
    boxes = [_total_boundswgs84(city[lv]) for lv in list(city.layers) if len(city[lv])]
    boxes = np.array([b for b in boxes if np.isfinite(b).all()])
    if not len(boxes):
        return None
    return boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()


def _total_boundswgs84(gdf):
    if gdf.crs is None or gdf.crs.to_epsg() == 4326:
        return gdf.total_bounds
    minx, miny, maxx, maxy = gdf.total_bounds
    # densified envelope, so curved edges of a projected box are covered
    return np.array(gpd.GeoSeries([shapely.box(minx, miny, maxx, maxy)], crs=gdf.crs)
                    .segmentize((maxx - minx + maxy - miny) / 40 or 1).to_crs(4326).total_bounds)


def _title_html(city, counts: dict, severities: dict, found) -> str:
    source = "" if city.source in ("<memory>", "", None) else Path(str(city.source)).name
    title = (_html.escape(source) + " " if source else "") + ("网格检查结果" if found is not None else "网格单元")
    units = " · ".join(f"{LABELS[k]} {v}" for k, v in counts.items())
    line = ""
    if found is not None:
        missing = int((found.geometry.isna() | found.geometry.is_empty).sum())
        line = (f'<br><span class="gis-err">错误 {severities.get("error", 0)}</span> · '
                f'<span class="gis-warn">警告 {severities.get("warning", 0)}</span>'
                + (f" · 无几何 {missing}" if missing else ""))
    return f"<b>{title}</b><br>{units}{line}"


def _legend_html(city, counts: dict, with_findings: bool) -> str:
    rows = ["<b>图例</b>"]
    for level in city.levels:
        s = LEVEL_STYLES[level]
        border = "dashed" if s.get("dashArray") else "solid"
        rows.append(f'<div><i style="border-top:{max(s["weight"], 1.5)}px {border} {s["color"]};opacity:{s["opacity"]}"></i>'
                    f'{LABELS[level]}</div>')
    if "buildings" in counts:
        rows.append(f'<div><i class="sq" style="background:{_BUILDING_STYLE["fillColor"]}"></i>'
                    f'{LABELS["buildings"]}</div>')
    if with_findings:
        for sev, color in SEVERITY_COLORS.items():
            rows.append(f'<div><i class="sq" style="background:{color}66;border:2px solid {color}"></i>'
                        f'{SEVERITY_LABELS[sev]}（区域）</div>')
            rows.append(f'<div><i class="dot" style="background:{color}66;border:2px solid {color}"></i>'
                        f'{SEVERITY_LABELS[sev]}（建筑/点）</div>')
    return "".join(rows)


__all__ = ["CANVAS_ABOVE", "MAX_BUILDINGS", "findings_map"]
